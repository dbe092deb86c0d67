"""Update without retraining (issue #17): remove the support paragraphs of 50 SciQ development questions from the
graph, answer those questions again, add the paragraphs back, answer again — no training step anywhere.

    python -m benchmarks.bench_corpus_update [--graph graphs/sciq] [--corpus runs/sciq/corpus] [--n 50]

Uses the graph and its sentence index built from `kqa corpus sciq:validation CORPUS` (see pipelines/corpus-qa.yaml);
when GRAPH holds no graph, writes the corpus to GRAPH-corpus and builds both (as bench_corpus_recall does). The questions are a seeded sample of the first 500 (the development part) that have a
paragraph. Each phase answers them with pipelines/corpus-qa.yaml and records accuracy, whether any evidence item
still comes from a removed document, and the predictions; `restored` must equal `before`. The graph is changed with
the CLI (`kqa graph remove NAMES`, `kqa graph update CORPUS`), which keeps the fact and sentence indexes in step.
Writes benchmarks/results/corpus_update.json.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_corpus_recall import ensure_graph, own_documents
from benchmarks.common import write_result
from kqa.data import load_questions
from kqa.evaluation.metrics import bootstrap_ci
from kqa.graph.corpus import content_id
from kqa.packaged import support_paragraphs
from kqa.pipeline import KQAPipeline
from kqa.types import Question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, default=Path("graphs/sciq"))
    parser.add_argument("--corpus", type=Path, default=None, help="The graph's corpus folder (default: GRAPH-corpus).")
    parser.add_argument("--pipeline", default="pipelines/corpus-qa.yaml")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    ensure_graph(args.graph, "en-core-web-sm")
    args.corpus = args.corpus or args.graph.with_name(args.graph.name + "-corpus")
    paragraphs = dict(support_paragraphs())
    dev = [q for q in load_questions("sciq:validation", limit=500).questions if q.id in paragraphs]
    chosen = random.Random(0).sample(dev, args.n)
    files = {content_id(f.read_text(encoding="utf-8").strip()): f.name for f in sorted(args.corpus.glob("*.txt"))}
    own = {qid: (doc_id, files[doc_id]) for qid, doc_id in own_documents(q.id for q in chosen).items()}
    phases = {"before": _answer(args, chosen, own)}
    _kqa("graph", "remove", *sorted({name for _, name in own.values()}), "--graph", str(args.graph))
    phases["removed"] = _answer(args, chosen, own)
    _kqa("graph", "update", str(args.corpus), "--graph", str(args.graph))
    phases["restored"] = _answer(args, chosen, own)
    for name, phase in phases.items():
        print(f"{name:<9} accuracy {phase['accuracy']:.3f}  questions reading their own paragraph "
              f"{phase['reading_own']}/{args.n}")
    same = phases["restored"]["predicted"] == phases["before"]["predicted"]
    print(f"restored predictions identical to before: {same}")
    write_result("corpus_update", {"n": args.n, "pipeline": args.pipeline, "graph": str(args.graph),
                                   "restored_equals_before": same, "phases": phases})


def _answer(args, questions: list[Question], own: dict[str, tuple[str, str]]) -> dict:
    pipeline = KQAPipeline.from_config(args.pipeline, graph=args.graph)  # a fresh one: it reads the graph as it is now
    predictions = pipeline.answer_batch(questions, progress=False)
    correct = [p.label == q.answer for p, q in zip(predictions, questions)]
    reading_own = sum(any(pr.source == own[q.id][0] for c in p.choices for f in c.evidence for pr in f.provenance)
                      for p, q in zip(predictions, questions))
    accuracy, low, high = bootstrap_ci(correct)
    return {"accuracy": accuracy, "ci95": [low, high], "reading_own": reading_own,
            "predicted": [p.label for p in predictions], "correct": [int(c) for c in correct]}


def _kqa(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "kqa", *argv], check=True)


if __name__ == "__main__":
    main()
