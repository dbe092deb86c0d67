"""kqa eval vs the bare scoring loop over the same questions (overhead), and 1 vs 2 local workers (scaling).

    python -m benchmarks.bench_eval --n 100 [--model smollm2-135m] [--repeats 2] [--threads 1]

Bare loop: CausalLMScorer.run over the questions in chunks of 8, nothing else. kqa eval: Evaluator with the same
loaded model (in process), writing predictions.jsonl (fsync per chunk), timings, metrics.json, and report.md with its
PNG plots. Bare and eval passes alternate and the fastest of `--repeats` counts, which damps noise from other load.
Scaling: Evaluator with --threads 1 and 1 then 2 spawned worker processes (each loads the model once; included).
Profile: one more eval pass under cProfile; the functions with the most time of their own go to the JSON.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.evaluation import EvalSet, EvaluationConfig, Evaluator, PipelineSpec, load_set
from kqa.pipeline import KQAPipeline

CHUNK = 8


def bare_loop(pipeline: KQAPipeline, questions) -> float:
    began = time.perf_counter()
    for start in range(0, len(questions), CHUNK):
        pipeline.reader.run(questions[start : start + CHUNK])
    return time.perf_counter() - began


def eval_pass(source, questions: EvalSet, out: Path, **options) -> tuple[float, float]:
    """(end-to-end seconds including metrics and report, seconds answering)."""
    config = EvaluationConfig(progress=False, chunk=CHUNK, **options)
    began = time.perf_counter()
    report = Evaluator(source, out, config).run([questions])
    return time.perf_counter() - began, report.metrics.timing.wall_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for bare and eval alike (1: stable timings on a shared machine)")
    parser.add_argument("--out", default=None, help="keep the last eval run's folder here (report.md, plots)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    questions = load_set("csqa:validation", limit=args.n)
    config = {"model": {"name": args.model}}
    pipeline = KQAPipeline.from_config(config)
    pipeline.reader.warm_up()
    result: dict = {"model": args.model, "n": len(questions.questions), "chunk": CHUNK, "repeats": args.repeats,
                    "torch_threads": args.threads}
    bare, full, answering = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "eval"
        bare_loop(pipeline, questions.questions[:CHUNK])  # warm caches and kernels once
        for _ in range(args.repeats):
            bare.append(bare_loop(pipeline, questions.questions))
            e2e, inner = eval_pass(pipeline, questions, out, threads=args.threads)
            full.append(e2e)
            answering.append(inner)
        n = len(questions.questions)
        result |= {"bare_q_per_s": round(n / min(bare), 3), "eval_q_per_s": round(n / min(full), 3),
                   "eval_answering_q_per_s": round(n / min(answering), 3),
                   "overhead_pct_end_to_end": round(100 * (min(full) / min(bare) - 1), 2),
                   "overhead_pct_answering": round(100 * (min(answering) / min(bare) - 1), 2),
                   "bare_s": [round(x, 2) for x in bare], "eval_s": [round(x, 2) for x in full]}
        spec = PipelineSpec(pipeline.config)
        for workers in (1, 2):
            e2e, inner = eval_pass(spec, questions, Path(tmp) / f"w{workers}", workers=workers, threads=1)
            result[f"workers{workers}_threads1_q_per_s"] = round(n / e2e, 3)
        result["speedup_2_over_1_workers"] = round(result["workers2_threads1_q_per_s"] / result["workers1_threads1_q_per_s"], 3)
        same = (Path(tmp) / "w1" / "predictions.jsonl").read_bytes() == (Path(tmp) / "w2" / "predictions.jsonl").read_bytes()
        result["workers_1_and_2_byte_identical"] = same
        result["eval_profile_top"] = profile_eval(pipeline, questions, Path(tmp) / "profiled", args.threads)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_result("eval", result)


def profile_eval(pipeline: KQAPipeline, questions: EvalSet, out: Path, threads: int, top: int = 15) -> list[dict]:
    """Where an eval pass spends its time: the functions with the most time of their own (cProfile), so the part
    that is not the model's forward pass shows by name."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    eval_pass(pipeline, questions, out, threads=threads)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, function): (calls, primitive, tottime, cumtime, callers)}
    total = sum(v[2] for v in stats.values())
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return [{"function": f"{Path(f).name}:{line}:{name}", "calls": v[0], "own_s": round(v[2], 3),
             "own_pct": round(100 * v[2] / total, 1)} for (f, line, name), v in rows]


if __name__ == "__main__":
    main()
