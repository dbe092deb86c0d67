"""Evaluate a pipeline on CSQA validation in one batch and write predictions.jsonl, metrics.json and report.md.

    python examples/evaluate_csqa.py --limit 50                               # packaged zero-shot SmolLM2
    python examples/evaluate_csqa.py --pipeline pipelines/zero-shot-knowledge.yaml --graph graphs/demo
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kqa import KQAPipeline
from kqa.data import load_questions
from kqa.evaluation.runner import Evaluator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", help="pipeline YAML (default: the packaged defaults)")
    parser.add_argument("--graph", help="graph folder the pipeline retrieves facts from")
    parser.add_argument("--limit", type=int, default=50, help="first N questions")
    parser.add_argument("--out", default="runs/example-eval")
    args = parser.parse_args(argv)

    pipeline = KQAPipeline.from_config(args.pipeline, graph=args.graph)
    questions = load_questions("csqa:validation", limit=args.limit)
    report = Evaluator(pipeline, args.out, progress=False).run(questions, source="csqa:validation")
    print(report.table())
    metrics = json.loads((Path(args.out) / "metrics.json").read_text(encoding="utf-8"))
    print(f"answer position shares: {[round(s, 2) for s in metrics['position']['predicted_share']]}")


if __name__ == "__main__":
    main()
