"""Two configurations' lift runs side by side, split by split: did a change raise the readers? (issue #16)

    python -m benchmarks.compare_lift_runs --name per-pair1 \
        --a minilm-lora-text-per-pair1 minilm-lora-text-per-pair1-seed1 \
        --b minilm-lora-text-direct-r37 minilm-lora-text-direct-r37-seed1

Each --a tag is paired with the --b tag at the same position (benchmarks/results/lift_<tag>.json): the same split,
so the same test questions (checked), ideally trained on one machine in one session (the same seed gives other
weights on another machine's arithmetic). Per split and per reader (without, facts, control, and the two-reader
pairs that runs before commit 74b0741 stored as `ensembles`): each side's accuracy and a - b with a paired bootstrap
CI and an exact McNemar p; over all splits, a - b with each distinct test question counted once (kqa.evaluation.metrics.paired_by_question). Writes
compare_<name>.json; no model runs.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from benchmarks.common import RESULTS, write_result
from kqa.evaluation.metrics import paired_by_question, paired_stats


def answers(tag: str) -> tuple[list[str], dict[str, list[bool]]]:
    """The run's test question ids and, per reader or pair, whether it answered each one right."""
    result = json.loads((RESULTS / f"lift_{tag}.json").read_text(encoding="utf-8"))["result"]
    runs = [*result["readers"], *result.get("ensembles", [])]  # stored runs keep their two-reader pairs
    return result["test_ids"], {run["name"]: [bool(c) for c in run["correct"]] for run in runs}


def compare(a_tags: list[str], b_tags: list[str]) -> dict:
    if len(a_tags) != len(b_tags):
        raise SystemExit(f"--a and --b pair their tags by position: got {len(a_tags)} and {len(b_tags)} tags")
    splits, tested, pooled = [], [], defaultdict(lambda: ([], []))
    for a_tag, b_tag in zip(a_tags, b_tags):
        (a_ids, a), (b_ids, b) = answers(a_tag), answers(b_tag)
        if a_ids != b_ids:
            raise SystemExit(f"lift_{a_tag} and lift_{b_tag} tested other questions: pair runs of the same split")
        readers = [name for name in a if name in b]
        splits.append({"a": a_tag, "b": b_tag, "n": len(a_ids), "readers": {
            name: {**paired_stats(a_tag, a[name], b_tag, b[name]).to_dict(),
                   "accuracy_a": round(sum(a[name]) / len(a_ids), 4),
                   "accuracy_b": round(sum(b[name]) / len(b_ids), 4)} for name in readers}})
        tested += a_ids
        for name in readers:
            pooled[name][0].extend(a[name])
            pooled[name][1].extend(b[name])
    shared = [name for name, (x, _) in pooled.items() if len(x) == len(tested)]  # readers every split has
    distinct = {name: paired_by_question(tested, *pooled[name]) for name in shared}
    return {"a": a_tags, "b": b_tags, "splits": splits, "distinct": distinct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--a", nargs="+", required=True, help="lift run tags of the changed configuration")
    parser.add_argument("--b", nargs="+", required=True, help="lift run tags of the baseline, split by split")
    args = parser.parse_args()
    result = compare(args.a, args.b)
    write_result(f"compare_{args.name}", result)
    for split in result["splits"]:
        print(f"{split['a']} vs {split['b']} (n = {split['n']})")
        for name, row in split["readers"].items():
            print(f"  {name:<16} {row['accuracy_a']:.3f} vs {row['accuracy_b']:.3f}  {100 * row['difference']:+.1f} "
                  f"[{100 * row['ci95'][0]:+.1f}, {100 * row['ci95'][1]:+.1f}]  p = {row['mcnemar_p']:.3g}")
    for name, row in result["distinct"].items():
        print(f"all splits, {row['n']} distinct questions: {name:<16} {100 * row['difference']:+.1f} "
              f"[{100 * row['ci95'][0]:+.1f}, {100 * row['ci95'][1]:+.1f}]  p = {row['p']:.3g}")


if __name__ == "__main__":
    main()
