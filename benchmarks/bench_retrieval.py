"""Retrieval benchmark (issue 5), every ratio measured side by side in one run.

    python -m benchmarks.bench_retrieval --graph graphs/wordnet --n 300

1. index build vs bare SentenceTransformer.encode of the same sentences;
2. retrieval latency per question (link + graph paths + dense) p50/p99;
3. end-to-end answer latency vs the bare backbone forward on the same token sequences;
4. shared-prefix vs naive decoder scoring with 10 facts and 5 choices;
5. CSQA accuracy of zero-shot SmolLM2 (a) without facts, (b) with retrieved facts, (c) with another question's facts
   (a fixed derangement), for each scoring mode.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from benchmarks.bench_shared_prefix import bench_shared_prefix
from benchmarks.common import peak_rss_mb, write_result
from kqa.config import ModelConfig, ScorerConfig
from kqa.data import load_questions
from kqa.graph.store import GraphStore
from kqa.pipeline import make_prediction
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.control import MatchedControlRetriever
from kqa.retrieval.facts import retrievable
from kqa.retrieval.index import Embedder, FactIndex, IndexConfig
from kqa.retrieval.retriever import FactRetriever
from kqa.scoring import CausalLMScorer
from kqa.types import Evidence


def ensure_graph(graph: Path, gloss_limit: int | None) -> None:
    if (graph / "manifest.json").is_file():
        return
    from kqa.graph.importers import import_wordnet

    print(f"building {graph} from WordNet (+ glosses, limit {gloss_limit})", flush=True)
    import_wordnet(graph, glosses=True, gloss_limit=gloss_limit)


def bench_index(graph: Path, limit: int) -> dict:
    with GraphStore.open(graph) as store:
        ids, texts = retrievable(store.edges())
    ids, texts = ids[:limit], texts[:limit]
    embedder = Embedder("minilm-l6")
    embedder.encode(texts[:64])  # warm up both paths equally
    began = time.perf_counter()
    embedder.warm_up().encode(texts, batch_size=256, normalize_embeddings=True, convert_to_numpy=True)
    bare = time.perf_counter() - began
    began = time.perf_counter()
    FactIndex.build(ids, texts, embedder, IndexConfig())
    build = time.perf_counter() - began
    return {"sentences": len(texts), "bare_encode_s": round(bare, 3), "index_build_s": round(build, 3),
            "build_over_encode": round(build / bare, 3)}


def bench_latency(retriever: FactRetriever, questions) -> dict:
    retriever.run(questions[0])
    times = []
    for q in questions:
        began = time.perf_counter()
        retriever.run(q)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"retrieval_ms_p50": round(statistics.median(times), 2),
            "retrieval_ms_p99": round(times[min(len(times) - 1, int(0.99 * len(times)))], 2)}


def bench_end_to_end(scorer: CausalLMScorer, retriever: FactRetriever, questions) -> dict:
    """Answer latency (retrieve + score) vs one bare forward over the token sequences the batched path scores."""
    began = time.perf_counter()
    for q in questions:
        scorer.run([q], [retriever.run(q)])
    answer = (time.perf_counter() - began) / len(questions)
    sequences = []
    for q in questions:
        prompt = scorer.prompt(scorer.facts_prefix(retriever.run(q)), q)
        sequences.append([e.ids for e in scorer.encode(prompt, q)])
    began = time.perf_counter()
    with torch.inference_mode():
        for seqs in sequences:
            width = max(map(len, seqs))
            ids = torch.tensor([[scorer._pad_id()] * (width - len(s)) + list(s) for s in seqs])
            scorer.model(input_ids=ids, logits_to_keep=1)
    bare = (time.perf_counter() - began) / len(questions)
    return {"answer_s_per_question": round(answer, 4), "bare_forward_s_per_question": round(bare, 4),
            "answer_over_bare_forward": round(answer / bare, 3)}


def accuracy_table(scorer: CausalLMScorer, retriever, questions) -> dict:
    evidence = {"with_facts": [retriever.run(q) for q in questions]}
    control = MatchedControlRetriever(retriever, questions, seed=0)
    evidence["control_facts"] = [control.run(q) for q in questions]
    table = {}
    for mode in ("sum", "mean", "pmi"):
        row = {}
        for name, ev in (("no_facts", None), ("with_facts", evidence["with_facts"]),
                         ("control_facts", evidence["control_facts"])):
            config = scorer.config.model_copy(update={"mode": mode, "use_facts": ev is not None})
            s = CausalLMScorer(scorer.model_config, config, scorer.model, scorer.tokenizer)
            scores = s.run(questions, ev)
            correct = [make_prediction(q, sc, Evidence.empty(q)).correct for q, sc in zip(questions, scores)]
            row[name] = round(sum(correct) / len(correct), 4)
        row["with_minus_control"] = round(row["with_facts"] - row["control_facts"], 4)
        table[mode] = row
        print(mode, row, flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--graph", type=Path, default=Path("graphs/wordnet"))
    parser.add_argument("--gloss-limit", type=int, default=None)
    parser.add_argument("--n", type=int, default=300, help="CSQA questions for the accuracy table")
    parser.add_argument("--index-limit", type=int, default=20000, help="sentences for the index-build comparison")
    parser.add_argument("--no-dense", action="store_true", help="graph paths only (no full-graph FAISS index needed)")
    args = parser.parse_args()
    ensure_graph(args.graph, args.gloss_limit)
    if not args.no_dense and not (args.graph / "index" / "manifest.json").is_file():
        from kqa.retrieval.service import build_index

        build_index(args.graph)
    questions = load_questions("csqa:validation", limit=args.n).questions
    result: dict = {"graph": str(args.graph), "n": len(questions)}
    result["index"] = bench_index(args.graph, args.index_limit)
    config = RetrievalConfig(dense_k=0) if args.no_dense else RetrievalConfig()
    result["dense"] = not args.no_dense
    retriever = FactRetriever.from_graph(args.graph, "en-core-web-sm", config)
    result["latency"] = bench_latency(retriever, questions[:200])
    scorer = CausalLMScorer(ModelConfig(), ScorerConfig(use_facts=True))
    scorer.warm_up()
    sub = questions[:20]
    ten = [retriever.run(q) for q in sub]
    result["shared_prefix"] = bench_shared_prefix(
        CausalLMScorer(scorer.model_config, scorer.config.model_copy(update={"max_facts": 10}), scorer.model,
                       scorer.tokenizer), sub, ten)
    result["end_to_end"] = bench_end_to_end(scorer, retriever, sub)
    result["accuracy"] = accuracy_table(scorer, retriever, questions)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_result("retrieval", result)


if __name__ == "__main__":
    main()
