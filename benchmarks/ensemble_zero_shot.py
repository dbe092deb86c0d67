"""A third reader beside the earlier default reader's two: the zero-shot SmolLM2 scorer (issue #16, measured and not kept).

The zero-shot reader knows things MiniLM's readers do not (its pre-training), so its z-scores over the choices are
added to every pair of benchmarks/bench_lift_ensemble.py (the reader without facts beside the facts / control /
second reader without facts), and that reader's lifts are measured again with it in all of them.

    kqa eval csqa:validation --pipeline pipelines/zero-shot.yaml --limit 1221 --out runs/zs-smollm2
    python -m benchmarks.bench_lift_ensemble --name NAME TAG          # writes runs/lift/TAG/test_z.npz
    python -m benchmarks.ensemble_zero_shot TAG runs/zs-smollm2/predictions.jsonl

Writes benchmarks/results/ensemble_zero-shot_<TAG>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import write_result
from kqa.adapters.ensemble import standardized
from kqa.data import load_questions
from kqa.evaluation.metrics import bootstrap_ci, paired_stats

MEMBERS = {"without": ("without",), "without+facts": ("without", "facts"), "without+control": ("without", "control"),
           "without+without-2": ("without", "without-2")}
BASELINES = ("without+lm", "without+control+lm", "without+without-2+lm", "without+facts", "without")


def zero_shot_z(predictions: Path) -> dict[str, np.ndarray]:
    """Question id -> (C,) z-scores of a `kqa eval` predictions.jsonl's choice scores."""
    rows = (json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines())
    return {row["id"]: standardized([c["score"] for c in row["choices"]]) for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tag", help="A lift run scored by bench_lift_ensemble (runs/lift/<tag>/test_z.npz).")
    parser.add_argument("predictions", type=Path, help="The zero-shot reader's kqa eval predictions.jsonl.")
    parser.add_argument("--data", default="csqa:validation")
    args = parser.parse_args()
    stored = np.load(Path("runs/lift") / args.tag / "test_z.npz")
    ids = [str(i) for i in stored["ids"]]
    by_id = {q.id: q for q in load_questions(args.data).questions}
    gold = np.array([by_id[i].labels.index(by_id[i].answer) for i in ids])
    lm = zero_shot_z(args.predictions)
    lm = np.array([lm[i] for i in ids])  # (Q, C)
    scores = {"lm": lm, "without+facts": stored["without"] + stored["facts"], "without": stored["without"]}
    scores |= {f"{name}+lm": sum(stored[m] for m in members) + lm for name, members in MEMBERS.items()}
    answers = {name: [bool(c) for c in s.argmax(axis=1) == gold] for name, s in scores.items()}
    accuracy = {name: dict(zip(("accuracy", "low", "high"), bootstrap_ci(c))) for name, c in answers.items()}
    pairs = [paired_stats("without+facts+lm", answers["without+facts+lm"], b, answers[b]).to_dict() for b in BASELINES]
    write_result(f"ensemble_zero-shot_{args.tag}", {"tag": args.tag, "predictions": str(args.predictions),
                                                    "accuracy": accuracy, "pairs": pairs})


if __name__ == "__main__":
    main()
