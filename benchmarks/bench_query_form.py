"""What a choice's dense query should say (issue #19): `retrieval.query` content (the question's content words and
the choice) against question (the question as written and the choice), side by side on one index.

    python -m benchmarks.bench_query_form graphs/cn4 --pipeline /tmp/int8.yaml     # a pipeline with dense_k > 0

For every CSQA validation question and each form: the time to encode its 5 queries alone (one call, as
FactRetriever does), and what the top `dense_k` hits of each choice's query reach: the share of hits that touch the
choice (an edge with one of the choice's linked concepts at either end), the share of gold and of wrong choices
with at least one such hit, and the mean tokens of a query. The index is the graph's own (`kqa index build --graph
GRAPH --embedder E`, with the pipeline's embedder); the pipeline's retrieval section gives the embedder and `dense_k`.
Writes benchmarks/results/query_form_<tag>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tqdm import tqdm
from transformers import AutoTokenizer

from benchmarks.common import write_result
from kqa.config import load_config
from kqa.data import load_questions
from kqa.models import resolve_model
from kqa.retrieval.retriever import FactRetriever, query_texts
from kqa.types import Question

FORMS = ("content", "question")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", type=Path)
    parser.add_argument("--pipeline", required=True, help="Its retrieval section (dense_k > 0, index.embedder).")
    parser.add_argument("--n", type=int, default=1221)
    parser.add_argument("--tag", default="cn4")
    args = parser.parse_args()

    config = load_config(args.pipeline)
    if not config.retrieval.dense_k:
        parser.error(f"{args.pipeline} turns dense search off (retrieval.dense_k: 0): give a pipeline that searches")
    retriever = FactRetriever.from_graph(args.graph, config.graph.spacy_model, config.retrieval)
    questions = load_questions("csqa:validation", limit=args.n).questions
    choices = [choice_names(retriever, q) for q in tqdm(questions, desc="linking", unit="q")]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm-l6"))  # the int8 embedder's tokenizer too
    forms = {form: measure(retriever, tokenizer, questions, choices, form) for form in FORMS}
    write_result(f"query_form_{args.tag}", {"graph": str(args.graph), "pipeline": args.pipeline, "n": len(questions),
                                            "embedder": config.retrieval.index.embedder,
                                            "dense_k": config.retrieval.dense_k, "forms": forms})
    for name, row in forms.items():
        print(f"{name:<9} " + "  ".join(f"{key} {value}" for key, value in row.items()))


def choice_names(retriever: FactRetriever, question: Question) -> list[set[str]]:
    """Each choice's linked concepts, resolved as the retriever resolves them."""
    linking = retriever.linker.run(question)
    return [{retriever.store.resolve(c.name) for c in concepts} for concepts in linking.choices]


def measure(retriever: FactRetriever, tokenizer, questions: list[Question], choices: list[list[set[str]]],
            form: str) -> dict:
    seconds, tokens, hits, touching, gold, wrong, n_wrong = [], [], 0, 0, 0, 0, 0
    encode, k = retriever.embedder.encode, retriever.config.dense_k
    encode(query_texts(questions[0], form))  # warm up
    for question, names in zip(tqdm(questions, desc=form, unit="q"), choices):
        queries = query_texts(question, form)
        tokens.extend(len(ids) for ids in tokenizer(queries)["input_ids"])
        began = time.perf_counter()
        vectors = encode(queries)  # (C, dim)
        seconds.append(time.perf_counter() - began)
        answer = [c.label for c in question.choices].index(question.answer)
        for i, (found, concepts) in enumerate(zip(retriever.index.search(vectors, k), names)):
            touched = sum(touches(retriever, triple_id, concepts) for triple_id, _ in found)
            hits, touching = hits + len(found), touching + touched
            if i == answer:
                gold += touched > 0
            else:
                wrong, n_wrong = wrong + (touched > 0), n_wrong + 1
    return {"encode_p50_ms": round(statistics.median(seconds) * 1000, 2),
            "tokens_per_query": round(statistics.mean(tokens), 2),
            "hits_touching_the_choice": round(touching / max(hits, 1), 4),
            "gold_touched": round(gold / len(questions), 4), "wrong_touched": round(wrong / max(n_wrong, 1), 4)}


def touches(retriever: FactRetriever, triple_id: str, concepts: set[str]) -> bool:
    edge = retriever.store.edge(triple_id)
    return edge is not None and (edge.head in concepts or edge.tail in concepts)


if __name__ == "__main__":
    main()
