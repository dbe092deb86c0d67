"""Where the knowledge lift is won and lost: the test answers of lift runs (benchmarks/results/lift_<tag>.json),
pooled, split by what the retrieval gave the question's choices (issue #16; no model is trained, retrieval only).

    python -m benchmarks.bench_lift_strata --name default minilm-lora-text-direct-s26 \
        minilm-lora-text-direct-noparse-seed1 minilm-lora-text-direct-noparse-seed2

Strata, by the facts the pipeline's retrieval finds for each choice:
  discriminating  the gold choice has facts and at least one wrong choice has none
  gold-bare       the gold choice has no facts
  all-have        every choice has facts
Per stratum, and over all answers ("all"): accuracy of each reader, and (facts - without), (facts - control) with
McNemar p over the pooled answers (optimistic where one question sits in several runs' test parts). "distinct"
(beside the strata) counts each question once: per question the mean difference over the runs that tested it, a
bootstrap interval over questions and a sign-flip p (kqa.evaluation.metrics.paired_by_question). Writes
strata_<name>.json.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from benchmarks.common import RESULTS, write_result
from kqa.config import load_config
from kqa.data import load_questions
from kqa.evaluation.metrics import paired_by_question, paired_stats
from kqa.retrieval.retriever import CachedRetriever, FactRetriever
from kqa.types import Question


def stratum(question: Question, retriever) -> str:
    has = [bool(facts) for facts in retriever.run(question).per_choice]
    gold = question.labels.index(question.answer)
    if not has[gold]:
        return "gold-bare"
    return "all-have" if all(has) else "discriminating"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tags", nargs="+", help="lift_<tag>.json files of one configuration (e.g. its seeds).")
    parser.add_argument("--name", required=True)
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml")
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4-csqa"))
    parser.add_argument("--data", default="csqa:validation")
    args = parser.parse_args()

    config = load_config(args.pipeline)
    retriever = CachedRetriever(FactRetriever.from_graph(args.graph, config.graph.spacy_model, config.retrieval))
    questions = {q.id: q for q in load_questions(args.data).questions}
    answers: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    tested: list[str] = []  # question ids of every tag's test part, one after the other
    pooled: dict[str, list[bool]] = defaultdict(list)  # aligned with `tested`
    for tag in args.tags:
        result = json.loads((RESULTS / f"lift_{tag}.json").read_text(encoding="utf-8"))["result"]
        strata = [stratum(questions[qid], retriever) for qid in result["test_ids"]]
        tested += result["test_ids"]
        for reader in result["readers"]:
            pooled[reader["name"]] += map(bool, reader["correct"])
            for name, correct in zip(strata, reader["correct"]):
                answers[name][reader["name"]].append(bool(correct))
    out = {name: _row(readers) for name, readers in sorted(answers.items())}
    out["all"] = _row(pooled)  # every test answer of the tags, whatever its stratum
    distinct = {f"facts_minus_{b}": paired_by_question(tested, pooled["facts"], pooled[b])
                for b in ("without", "control") if b in pooled}
    write_result(f"strata_{args.name}", {"tags": args.tags, "graph": str(args.graph), "pipeline": args.pipeline,
                                         "strata": out, "distinct": distinct})


def _row(readers: dict[str, list[bool]]) -> dict:
    """One stratum: n, each reader's accuracy, and the facts reader against each baseline that was trained."""
    n = len(readers["facts"])
    row = {"n": n, "accuracy": {r: round(sum(c) / n, 4) for r, c in readers.items()}}
    for baseline in ("without", "control"):
        if baseline in readers:
            pair = paired_stats("facts", readers["facts"], baseline, readers[baseline])
            row[f"facts_minus_{baseline}"] = {"difference": round(pair.difference, 4), "gained": pair.a_only,
                                              "lost": pair.b_only, "mcnemar_p": pair.mcnemar_p}
    return row


if __name__ == "__main__":
    main()
