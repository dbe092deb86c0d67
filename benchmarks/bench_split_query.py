"""Dense-search queries encoded jointly ("question choice" per choice) or split (the question once, the choices apart,
mixed by token counts: `retrieval.dense_query: split`), side by side on the same questions (issue #19, item 3).

    python -m benchmarks.bench_split_query graphs/cn4 --pipeline pipelines/encoder-facts.yaml --n 1221

For each question, in alternating order: the whole retrieval (FactRetriever.run, encoding beside linking and paths,
dense search on) with each query mode, and the encoding alone. Quality of the split queries against the joint ones:
recall@k of the joint query's k nearest facts among the split query's k nearest (per choice), and for each mode the
share of a choice's dense hits that touch one of its linked concepts (a hit about the choice, not only the question).
Writes benchmarks/results/split_query_<tag>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.bench_retrieval_latency import ensure_index, quantiles_ms
from benchmarks.common import peak_rss_mb, write_result

MODES = ("joint", "split")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", type=Path)
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml")
    parser.add_argument("--data", default="csqa:validation")
    parser.add_argument("--n", type=int, default=1221)
    parser.add_argument("--dense-k", type=int, default=10)
    parser.add_argument("--embedder", default="minilm-l6-int8")
    parser.add_argument("--tag", default="cn4-int8")
    args = parser.parse_args()

    from kqa.config import load_config
    from kqa.data import load_questions
    from kqa.retrieval.retriever import FactRetriever

    config = load_config(args.pipeline)
    base = config.retrieval.model_copy(update={
        "dense_k": args.dense_k, "index": config.retrieval.index.model_copy(update={"embedder": args.embedder})})
    built = ensure_index(args.graph, base.index, rebuild=False)
    retriever = FactRetriever.from_graph(args.graph, config.graph.spacy_model, base)
    configs = {mode: base.model_copy(update={"dense_query": mode}) for mode in MODES}
    questions = load_questions(args.data, limit=args.n).questions
    for mode in MODES:  # warm: spaCy, onnxruntime, FAISS
        retriever.config = configs[mode]
        retriever.run(questions[0])
    total = {mode: [] for mode in MODES}
    encode = {mode: [] for mode in MODES}
    recall, about_choice = [], {mode: [] for mode in MODES}
    for i, question in enumerate(questions):
        hits = {}
        for mode in MODES if i % 2 == 0 else MODES[::-1]:
            retriever.config = configs[mode]
            began = time.perf_counter()
            evidence = retriever.run(question)
            total[mode].append(time.perf_counter() - began)
            began = time.perf_counter()
            queries = retriever._queries(question)  # (C, dim), as run() encodes them
            encode[mode].append(time.perf_counter() - began)
            hits[mode] = [[tid for tid, _ in found] for found in retriever.index.search(queries, args.dense_k)]
            for names, found in zip(evidence.choice_concepts, hits[mode]):
                if found:
                    about_choice[mode].append(statistics.fmean(_touches(retriever, tid, set(names)) for tid in found))
        for joint, split in zip(hits["joint"], hits["split"]):
            if joint:
                recall.append(len(set(joint) & set(split)) / len(joint))
    result = {"graph": str(args.graph), "pipeline": args.pipeline, "embedder": args.embedder, "n": len(questions),
              "dense_k": args.dense_k, **built,
              "total": {mode: quantiles_ms(total[mode]) for mode in MODES},
              "encode": {mode: quantiles_ms(encode[mode]) for mode in MODES},
              "p50_joint_over_split": round(statistics.median(total["joint"]) / statistics.median(total["split"]), 3),
              f"recall_at_{args.dense_k}_of_joint": round(statistics.fmean(recall), 4),
              "hits_touching_the_choice": {mode: round(statistics.fmean(v), 4) for mode, v in about_choice.items()},
              "peak_rss_mb": round(peak_rss_mb(), 1)}
    write_result(f"split_query_{args.tag}", result)
    for mode in MODES:
        print(f"{mode:<6} total p50 {result['total'][mode]['p50_ms']:6.2f} ms  p99 {result['total'][mode]['p99_ms']:6.2f}"
              f"  encode p50 {result['encode'][mode]['p50_ms']:6.2f} ms  hits about the choice "
              f"{result['hits_touching_the_choice'][mode]:.3f}")
    print(f"recall@{args.dense_k} of the joint neighbours: {result[f'recall_at_{args.dense_k}_of_joint']:.3f}")


def _touches(retriever, triple_id: str, names: set[str]) -> float:
    edge = retriever.store.edge(triple_id)
    return float(edge is not None and (edge.head in names or edge.tail in names))


if __name__ == "__main__":
    main()
