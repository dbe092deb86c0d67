"""Evidence quality: does the graph give the gold choice connecting facts more often than the wrong ones?

    python -m benchmarks.bench_evidence --graph graphs/cn4-csqa --pipeline pipelines/encoder-facts.yaml --tag cn4

On the first --n CSQA validation questions: the link rate (questions with a linked question concept, choices with a
linked choice concept), the share of gold and of wrong choices that get at least one connecting fact (an edge between a
question concept and the choice, or a 2-hop path), facts per choice, retrieval latency p50/p99, and --show random
questions with their facts printed for reading. Writes benchmarks/results/evidence_<tag>.json.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import peak_rss_mb, write_result
from kqa.config import load_config
from kqa.data import load_questions
from kqa.retrieval.retriever import FactRetriever

CONNECTING = ("direct", "two-hop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, required=True)
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml", help="Its retrieval section is used.")
    parser.add_argument("--data", default="csqa:validation")
    parser.add_argument("--n", type=int, default=1221)
    parser.add_argument("--show", type=int, default=20, help="Random questions printed with their facts.")
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()

    config = load_config(args.pipeline)
    questions = load_questions(args.data, limit=args.n).questions
    began = time.perf_counter()
    retriever = FactRetriever.from_graph(args.graph, config.graph.spacy_model, config.retrieval)
    open_s = time.perf_counter() - began
    rows, seconds = [], []
    for question in tqdm(questions, desc="retrieving", unit="q"):
        start = time.perf_counter()
        evidence = retriever.run(question)
        seconds.append(time.perf_counter() - start)
        rows.append((question, evidence))
    result = {"graph": str(args.graph), "data": args.data, "n": len(questions), "open_seconds": round(open_s, 1),
              "retrieval": config.retrieval.model_dump(mode="json"), **quality(rows),
              "facts_alone": facts_alone(rows), **latency(seconds),
              "peak_rss_mb": peak_rss_mb(), "examples": examples(rows, args.show)}
    path = write_result(f"evidence_{args.tag}", result)
    for key in ("question_linked", "choice_linked", "gold_connected", "wrong_connected", "gold_direct", "wrong_direct",
                "facts_per_choice", "facts_alone", "p50_ms", "p99_ms"):
        print(f"{key:<18} {result[key]}")
    print(f"written to {path}")


def quality(rows) -> dict:
    gold, wrong, facts, choice_linked, choices = [], [], [], 0, 0
    direct = {True: [], False: []}
    for question, evidence in rows:
        for i, choice in enumerate(question.choices):
            connected = any(f.origin in CONNECTING for f in evidence.per_choice[i])
            (gold if choice.label == question.answer else wrong).append(connected)
            direct[choice.label == question.answer].append(any(f.origin == "direct" for f in evidence.per_choice[i]))
            facts.append(len(evidence.per_choice[i]))
            choice_linked += bool(evidence.choice_concepts and evidence.choice_concepts[i])
            choices += 1
    linked = sum(bool(e.question_concepts) for _, e in rows)
    return {"question_linked": round(linked / len(rows), 4), "choice_linked": round(choice_linked / choices, 4),
            "gold_connected": round(sum(gold) / max(len(gold), 1), 4),
            "wrong_connected": round(sum(wrong) / max(len(wrong), 1), 4),
            "gold_direct": round(sum(direct[True]) / max(len(direct[True]), 1), 4),
            "wrong_direct": round(sum(direct[False]) / max(len(direct[False]), 1), 4),
            "facts_per_choice": round(sum(facts) / max(len(facts), 1), 2)}


def facts_alone(rows) -> dict:
    """Expected accuracy of picking, without the question, a choice the facts favour (ties split evenly), and chance."""
    def expected(rule) -> float:
        total = 0.0
        for question, evidence in rows:
            values = [rule(facts) for facts in evidence.per_choice]
            best = [i for i, v in enumerate(values) if v == max(values)]
            gold = question.labels.index(question.answer)
            total += (gold in best) / len(best)
        return round(total / max(len(rows), 1), 4)

    return {"has_connecting_fact": expected(lambda facts: any(f.origin in CONNECTING for f in facts)),
            "most_facts": expected(len),
            "chance": round(sum(1 / len(q.choices) for q, _ in rows) / max(len(rows), 1), 4)}


def latency(seconds: list[float]) -> dict:
    ordered = sorted(seconds)

    def quantile_ms(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": quantile_ms(0.5), "p99_ms": quantile_ms(0.99)}


def examples(rows, count: int) -> list[dict]:
    chosen = random.Random(0).sample(rows, min(count, len(rows)))
    return [{"question": q.stem, "concepts": list(e.question_concepts), "gold": q.answer,
             "choices": {c.label: {"text": c.text, "facts": [f"[{f.origin}] {f.text}" for f in e.per_choice[i]]}
                         for i, c in enumerate(q.choices)}} for q, e in chosen]


if __name__ == "__main__":
    main()
