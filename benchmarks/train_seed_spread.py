"""How much of a lift is the training seed? Lift runs of one split that differ only in `train.seed`. (issue #16)

    python -m benchmarks.train_seed_spread --name per-pair1-split0 minilm-lora-text-per-pair1-s38 \
        minilm-lora-text-per-pair1-trainseed1000 minilm-lora-text-per-pair1-trainseed1001

The runs (benchmarks/results/lift_<tag>.json) must share their test questions (checked): same split, readers trained
from other initial weights and batch orders. Per reader: each seed's accuracy, their mean and range; the lifts
(facts - without, facts - control) with every seed's answer to a question averaged (paired_by_question: n stays the
number of distinct questions); and the seeds' readers as one, their stored test logits summed as z-scores over each
question's choices, with a paired bootstrap CI and an exact McNemar p. Writes seed_spread_<name>.json; no model runs.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from benchmarks.common import RESULTS, write_result
from kqa.data import load_questions
from kqa.evaluation.metrics import bootstrap_ci, paired_by_question, paired_stats

READERS = ("without", "facts", "control")
PAIRS = (("facts", "without"), ("facts", "control"))


def load_runs(tags: list[str]) -> tuple[str, list[str], list[dict[str, dict]]]:
    """The data set, the shared test question ids, and per tag its readers by name."""
    records = [json.loads((RESULTS / f"lift_{tag}.json").read_text(encoding="utf-8")) for tag in tags]
    ids = records[0]["result"]["test_ids"]
    for tag, record in zip(tags, records):
        if record["result"]["test_ids"] != ids:
            raise SystemExit(f"lift_{tag} tested other questions than lift_{tags[0]}: give runs of one split")
        if record["data"] != records[0]["data"]:
            raise SystemExit(f"lift_{tag} read {record['data']!r}, lift_{tags[0]} {records[0]['data']!r}")
    readers = [{r["name"]: r for r in record["result"]["readers"]} for record in records]
    return records[0]["data"], ids, readers


def zscores(scores) -> np.ndarray:
    """(Q, C) logits as z-scores over each question's choices."""
    values = np.asarray(scores, dtype=np.float64)
    return (values - values.mean(axis=1, keepdims=True)) / (values.std(axis=1, keepdims=True) + 1e-6)


def spread(tags: list[str], gold: dict[str, int] | None = None) -> dict:
    """`gold`: question id -> index of its answer (default: read from the runs' data set)."""
    if len(tags) < 2:
        raise SystemExit(f"give at least two runs of one split, got {len(tags)}")
    data, ids, runs = load_runs(tags)
    if gold is None:
        questions = {q.id: q for q in load_questions(data).questions}
        gold = {qid: questions[qid].labels.index(questions[qid].answer) for qid in ids}
    answer = np.array([gold[qid] for qid in ids])  # (Q,)
    names = [name for name in READERS if all(name in run for run in runs)]
    per_reader, joined = {}, {}
    for name in names:
        accuracy = [round(float(np.mean(run[name]["correct"])), 4) for run in runs]
        summed = sum(zscores(run[name]["scores"]) for run in runs)  # (Q, C)
        joined[name] = tuple(bool(c) for c in summed.argmax(axis=1) == answer)
        joined_accuracy, low, high = bootstrap_ci(joined[name])
        per_reader[name] = {"accuracy": accuracy, "mean": round(float(np.mean(accuracy)), 4),
                            "range": [min(accuracy), max(accuracy)],
                            "seeds_joined": {"accuracy": round(joined_accuracy, 4),
                                             "ci95": [round(low, 4), round(high, 4)]}}
    lifts = {}
    tested = ids * len(runs)  # each seed answered every test question once
    for a, b in PAIRS:
        if a in names and b in names:
            pooled = paired_by_question(tested, [c for run in runs for c in run[a]["correct"]],
                                        [c for run in runs for c in run[b]["correct"]])
            each = [paired_stats(a, run[a]["correct"], b, run[b]["correct"]).to_dict() for run in runs]
            lifts[f"{a}-{b}"] = {"each_seed": each, "seeds_averaged": pooled,
                                 "seeds_joined": paired_stats(a, joined[a], b, joined[b]).to_dict()}
    return {"tags": tags, "data": data, "n": len(ids), "readers": per_reader, "lifts": lifts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("tags", nargs="+", help="lift run tags of one split, one per training seed")
    args = parser.parse_args()
    result = spread(args.tags)
    write_result(f"seed_spread_{args.name}", result)
    for name, row in result["readers"].items():
        print(f"{name:<8} seeds {row['accuracy']} mean {row['mean']:.3f}; joined {row['seeds_joined']['accuracy']:.3f}")
    for pair, row in result["lifts"].items():
        each = ", ".join(f"{100 * s['difference']:+.1f}" for s in row["each_seed"])
        averaged, joined = row["seeds_averaged"], row["seeds_joined"]
        print(f"{pair}: each seed {each}; seeds averaged {100 * averaged['difference']:+.1f} p = {averaged['p']:.3g}; "
              f"joined {100 * joined['difference']:+.1f} p = {joined['mcnemar_p']:.3g}")


if __name__ == "__main__":
    main()
