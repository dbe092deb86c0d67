"""Answer three questions with the Python API and print each answer with the evidence it read.

    python examples/answer_questions.py                                         # packaged zero-shot SmolLM2
    python examples/answer_questions.py --graph graphs/demo                     # + facts (after `make demo`)
    python examples/answer_questions.py --graph graphs/demo --adapter runs/demo/train/adapter \\
        --pipeline pipelines/encoder-kpe.yaml                                   # the demo's trained adapter
"""

from __future__ import annotations

import argparse

from kqa import KQAPipeline
from kqa.data import question_from_text

QUESTIONS = [
    ("Where would you keep a live fish?", ["aquarium", "desert", "oven", "bookshelf", "freezer"]),
    ("What do you use to cut paper?", ["scissors", "spoon", "pillow", "water", "candle"]),
    ("Where do you put ice cream to keep it cold?", ["freezer", "oven", "mailbox", "garden", "closet"]),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", help="pipeline YAML (default: the packaged defaults)")
    parser.add_argument("--graph", help="graph folder: answers then carry facts")
    parser.add_argument("--adapter", help="adapter folder written by `kqa train` / `kqa demo`")
    args = parser.parse_args(argv)

    pipeline = KQAPipeline.from_config(args.pipeline, graph=args.graph, adapter=args.adapter)
    for n, (stem, choices) in enumerate(QUESTIONS):
        prediction = pipeline.answer(question_from_text(stem, choices, f"example-{n}"))
        chosen = next(c for c in prediction.choices if c.label == prediction.label)
        print(f"Q: {stem}")
        print(f"A: {chosen.text} (p={chosen.probability:.3f}; reader {pipeline.model_name})")
        facts = sorted(prediction.evidence, key=lambda f: -f.score)  # what the reader read, over all choices
        for fact in facts[:3]:
            print(f"   evidence: {fact.text}  [{fact.relation}, {fact.origin}, score {fact.score:.2f}]")
        if not facts:
            print("   evidence: none (no graph given, or nothing linked)")


if __name__ == "__main__":
    main()
