"""The oracle rows of the corpus benchmark (issue #17): how much a SciQ question's own support paragraph is worth to a
reader, against another question's paragraph, with the reader and prompt of a pipeline (default
pipelines/corpus-qa.yaml: zero-shot SmolLM2, facts before the question).

    python -m benchmarks.bench_corpus_oracle [--pipeline pipelines/corpus-qa.yaml] [--n 500] [--retrieved DIR]

For the first --n SciQ validation questions (at most 500: the rest are held out) that have a paragraph, three readings:
  none     the bare question
  own      the question's own support paragraph as the one fact before it (the oracle)
  other    another question's paragraph (a seeded derangement): as long a prefix, unrelated content
and, with --retrieved (a `kqa eval --compare` folder of the same pipeline), the retrieved rows of the same questions,
so the oracle and the retrieved lift sit side by side with paired tests. Writes benchmarks/results/corpus_oracle.json;
answers are cached per reading in runs/sciq/oracle/<reading>.json, so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import peak_rss_mb, write_result
from kqa.data import load_questions
from kqa.evaluation.metrics import bootstrap_ci, paired_stats
from kqa.packaged import support_paragraphs
from kqa.pipeline import KQAPipeline
from kqa.prediction import best_choice
from kqa.retrieval.control import derangement
from kqa.types import Evidence, Fact, Question

DEV = 500
CHUNK = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="pipelines/corpus-qa.yaml")
    parser.add_argument("--n", type=int, default=DEV)
    parser.add_argument("--retrieved", type=Path, default=Path("runs/sciq/compare"))
    parser.add_argument("--cache", type=Path, default=Path("runs/sciq/oracle"))
    args = parser.parse_args()
    if not 0 < args.n <= DEV:
        parser.error(f"--n must be in 1..{DEV} (the questions after sciq-{DEV} are held out), got {args.n}")
    paragraphs = dict(support_paragraphs())
    questions = [q for q in load_questions("sciq:validation", limit=args.n).questions if q.id in paragraphs]
    donors = derangement(len(questions), seed=0)
    texts = {"none": [None] * len(questions), "own": [paragraphs[q.id] for q in questions],
             "other": [paragraphs[questions[j].id] for j in donors]}
    pipeline = KQAPipeline.from_config(args.pipeline)
    correct = {name: _answer(pipeline, questions, texts[name], args.cache / f"{name}.json") for name in texts}
    correct |= _retrieved(args.retrieved, questions)
    rows = {name: dict(zip(("accuracy", "low", "high"), bootstrap_ci(c))) for name, c in correct.items()}
    pairs = [_pair(correct, a, b) for a, b in (("own", "none"), ("own", "other"), ("with", "without"),
                                               ("with", "control"), ("own", "with")) if a in correct and b in correct]
    for name, row in rows.items():
        print(f"{name:<8} {row['accuracy']:.4f} [{row['low']:.4f}, {row['high']:.4f}]")
    for pair in pairs:
        print(f"{pair['a']} - {pair['b']}: {pair['difference']:+.4f} [{pair['ci95'][0]:+.4f}, {pair['ci95'][1]:+.4f}] "
              f"McNemar p={pair['mcnemar_p']:.3g}")
    write_result("corpus_oracle", {"pipeline": args.pipeline, "n": len(questions), "rows": rows, "pairs": pairs,
                                   "peak_rss_mb": peak_rss_mb()})


def _answer(pipeline: KQAPipeline, questions: list[Question], paragraphs: list[str | None], cache: Path) -> list[bool]:
    """Whether the reader picks the gold choice with each paragraph (or none) as the one fact; cached by question."""
    done = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else {}
    todo = [i for i, q in enumerate(questions) if q.id not in done]
    for start in tqdm(range(0, len(todo), CHUNK), desc=cache.stem, unit="chunk"):
        chunk = todo[start : start + CHUNK]
        evidence = [_evidence(questions[i], paragraphs[i]) for i in chunk]
        scores = pipeline.reader.run([questions[i] for i in chunk], evidence)
        for i, s in zip(chunk, scores):
            done[questions[i].id] = questions[i].labels[best_choice(s)] == questions[i].answer
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(done), encoding="utf-8")
    return [done[q.id] for q in questions]


def _evidence(question: Question, paragraph: str | None) -> Evidence:
    if paragraph is None:
        return Evidence.empty(question)
    fact = Fact("paragraph", "Sentence", "", paragraph.rstrip(". "), score=1.0, origin="oracle")  # the block adds "."
    return Evidence(question.id, tuple((fact,) for _ in question.choices))


def _retrieved(folder: Path, questions: list[Question]) -> dict[str, list[bool]]:
    """with / without / control of a `kqa eval --compare` run, on the same questions (absent variants: left out)."""
    out = {}
    for name in ("with", "without", "control"):
        path = folder / "variants" / name / "predictions.jsonl"
        if path.is_file():
            records = {r["id"]: r["correct"] for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
            if all(q.id in records for q in questions):
                out[name] = [bool(records[q.id]) for q in questions]
    return out


def _pair(correct: dict[str, list[bool]], a: str, b: str) -> dict:
    stats = paired_stats(a, correct[a], b, correct[b])
    return {"a": a, "b": b, "difference": stats.difference, "ci95": list(stats.ci95), "a_only": stats.a_only,
            "b_only": stats.b_only, "mcnemar_p": stats.mcnemar_p}


if __name__ == "__main__":
    main()
