"""Explaining an answer vs giving it (issue #19): the leave-one-out effects of the chosen answer's facts come from one
batched call (K+1 single-choice copies, kqa.attribution), for the zero-shot scorer and a trained reader alike.

    python -m benchmarks.bench_explain --graph graphs/cn4 [--adapter runs/lift/.../facts/adapter] [--n 30]

For each of the first --n CSQA questions, with the same retrieved evidence: the time of `reader.run` (the answer) and
of `reader.explain` (the answer and every read fact's effect), side by side in one process. The zero-shot scorer
(per-character and PMI modes) reads the answer and every choice's leave-one-out copies in one packed pass; beside it,
`kqa.attribution.explain` reads the answer, then the chosen choice's copies (the generic path, which the scorer took
before this version; in PMI mode its `run` is this version's, which packs the neutral prompt with the prompt).
Goal: explain <= 2x the answer. Writes benchmarks/results/explain.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.attribution import explain
from kqa.config import ScorerConfig, load_config
from kqa.data import load_questions
from kqa.retrieval.retriever import FactRetriever
from kqa.scoring import CausalLMScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4"))
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml", help="Its retrieval section is used.")
    parser.add_argument("--adapter", type=Path, default=None, help="A trained reader to time beside the scorer.")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--max-facts", type=int, default=10, help="Facts the zero-shot scorer reads.")
    args = parser.parse_args()
    config = load_config(args.pipeline)
    retriever = FactRetriever.from_graph(args.graph, config.graph.spacy_model, config.retrieval)
    questions = load_questions("csqa:validation", limit=args.n).questions
    evidence = [retriever.run(q) for q in questions]
    model = load_config(None).model
    scorers = {"zero-shot scorer": CausalLMScorer(model, ScorerConfig(use_facts=True, max_facts=args.max_facts)),
               "zero-shot scorer, PMI (pipelines/zero-shot-knowledge.yaml)": CausalLMScorer(
                   model, ScorerConfig(use_facts=True, max_facts=args.max_facts, mode="pmi"))}
    first = scorers["zero-shot scorer"]
    first.warm_up()  # one model for both modes
    rows = {}
    for name, scorer in scorers.items():  # side by side: the copies read after the answer (the generic path)
        scorer.model, scorer.tokenizer = first.model, first.tokenizer
        rows[name] = _time(scorer, scorer.explain, questions, evidence)
        rows[name + ", copies read after the answer"] = _time(
            scorer, lambda q, e, s=scorer: explain(s, q, e, s.facts_read), questions, evidence)
    if args.adapter is not None:
        from kqa.adapters.reader import AdapterReader

        reader = AdapterReader(args.adapter)
        rows["trained reader"] = _time(reader, reader.explain, questions, evidence)
    for name, row in rows.items():
        print(f"{name}: answer {row['answer_ms']:.0f} ms, explain {row['explain_ms']:.0f} ms "
              f"({row['ratio']:.2f}x, {row['facts_explained']:.1f} facts explained per question)")
    write_result("explain", {"graph": str(args.graph), "n": len(questions), "rows": rows,
                             "peak_rss_mb": peak_rss_mb()})


def _time(reader, explainer, questions, evidence) -> dict:
    reader.warm_up()
    reader.run(questions[:1], evidence[:1])  # first call pays for lazy set-up
    answer, explaining, explained = [], [], []
    for question, found in zip(questions, evidence):
        began = time.perf_counter()
        reader.run([question], [found])
        answer.append(time.perf_counter() - began)
        began = time.perf_counter()
        prediction = explainer(question, found)
        explaining.append(time.perf_counter() - began)
        explained.append(len({f.text for c in prediction.choices for f in c.evidence if f.attribution is not None}))
    answer_ms, explain_ms = 1000 * statistics.median(answer), 1000 * statistics.median(explaining)
    return {"answer_ms": round(answer_ms, 1), "explain_ms": round(explain_ms, 1),
            "ratio": round(explain_ms / answer_ms, 2), "facts_explained": statistics.mean(explained)}


if __name__ == "__main__":
    main()
