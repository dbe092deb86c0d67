"""Fuzz every entry point that reads user input: N seeded inputs each, counted as succeeded, refused (a KQAError
naming the file, line or field) or escaped (any other exception, or a broken result; the goal is 0).

    python -m benchmarks.bench_fuzz [--n 10000] [--seed 0] [--only questions,web] [--start 0]

Input i of entry point T comes from random.Random(f"{seed}:{T}:{i}"): replay an escaped example alone with
`--only T --start i --n 1 --show`. Inputs are made by benchmarks/fuzz_inputs.py, the mutators tests/fuzz uses too.
No language model or spaCy pipeline is loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import time
import warnings
from pathlib import Path

from benchmarks.common import write_result
from benchmarks.fuzz_targets import (
    AdapterFolders,
    ConceptNetFiles,
    ConvertedSets,
    Corpora,
    IndexFolders,
    PipelineConfigs,
    QuestionFiles,
    Target,
    VocabularyFiles,
)
from benchmarks.fuzz_web import WebRequests

TARGETS: dict[str, type[Target]] = {t.name: t for t in (
    QuestionFiles, ConvertedSets, Corpora, PipelineConfigs, AdapterFolders, IndexFolders, WebRequests, VocabularyFiles,
    ConceptNetFiles)}
EXAMPLES = 5  # escaped inputs kept per entry point


def fuzz(target: Target, n: int, seed: int = 0, start: int = 0, show: bool = False) -> dict:
    """Counts of `n` inputs to one target, with up to EXAMPLES escaped ones (their index replays them)."""
    counts = {"inputs": 0, "succeeded": 0, "refused": 0, "escaped": 0}
    examples = []
    began = time.perf_counter()
    for i in range(start, start + n):
        outcome = target.run(random.Random(f"{seed}:{target.name}:{i}"))
        counts["inputs"] += 1
        counts[outcome.kind] += 1
        if show:
            print(f"{target.name} {i}: {outcome.kind} {outcome.detail}")
        if outcome.kind == "escaped" and len(examples) < EXAMPLES:
            examples.append({"input": i, "detail": outcome.detail})
    return counts | {"escaped_examples": examples, "seconds": round(time.perf_counter() - began, 2)}


def run(names: list[str], n: int, seed: int = 0, start: int = 0, show: bool = False) -> dict[str, dict]:
    """Fuzz each named entry point in a temporary work folder."""
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        raise SystemExit(f"unknown entry points {unknown}; known: {', '.join(TARGETS)}")
    results = {}
    logging.disable(logging.WARNING)  # "skipped N invalid records", once per input: not the point here
    try:
        with tempfile.TemporaryDirectory(prefix="kqa-fuzz-", dir=_memory_folder()) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # matplotlib: glyphs missing from its font
            for name in names:
                target = TARGETS[name](Path(tmp))
                results[name] = fuzz(target, n, seed, start, show)
                target.close()
    finally:
        logging.disable(logging.NOTSET)
    return results


def _memory_folder() -> str | None:
    """/dev/shm when there is one: each input writes files, and a tmpfs makes that cheap (None: the default)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000, help="inputs per entry point")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first input (to replay one)")
    parser.add_argument("--only", default=",".join(TARGETS), help=f"comma-separated subset of {', '.join(TARGETS)}")
    parser.add_argument("--show", action="store_true",
                        help="print every input's outcome and write no results file (with --n 1: replay one)")
    args = parser.parse_args()
    results = run(args.only.split(","), args.n, args.seed, args.start, args.show)
    for name, r in results.items():
        print(f"{name:<11} {r['inputs']:>6} inputs  {r['succeeded']:>6} succeeded  {r['refused']:>6} refused  "
              f"{r['escaped']:>4} escaped  {r['seconds']:>7.1f} s", flush=True)
    if args.show:  # a replay: benchmarks/results/fuzz.json keeps the last full run
        return
    write_result("fuzz", {"n": args.n, "seed": args.seed, "start": args.start,
                          "escaped_total": sum(r["escaped"] for r in results.values()), "entry_points": results})


if __name__ == "__main__":
    main()
