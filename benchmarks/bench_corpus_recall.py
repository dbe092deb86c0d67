"""Corpus recall (issue #17): does a SciQ question's own support paragraph reach its evidence sentences?

    .venv/bin/python -m benchmarks.bench_corpus_recall graphs/sciq          # the first 500 SciQ validation questions

The graph is built from `kqa.packaged.write_support_corpus` (each of the 887 support paragraphs one document, in a
shuffled order, named doc-0001.txt, ...), and indexed with its sentences; when GRAPH has no graph yet this script
writes the corpus to GRAPH-corpus and builds both (the same as `kqa graph build GRAPH-corpus --graph GRAPH` and
`kqa index build --graph GRAPH --sentences`).

Only the first --n (at most 500) questions in file order are asked: sciq-501.. are held out. For each one with a
support paragraph, retrieval gives every choice (--query: the question's content words or the question as
written, + the choice) its best sentences; the question's top-k
are the k best-scored distinct sentences over all its choices. recall@k is the share of those questions whose own
paragraph (recognised by the content id of its text, the document id of the graph) gives at least one of them, for
  graph  sentences behind the graph-path edges of each choice (mix 1, no dense search)
  dense  nearest sentences in the sentence index (mix 0)
  fused  both, scored mix * path score + (1 - mix) * cosine (--mix)
at k = 5 and 10; gold_recall@k does the same with the gold choice's own top k. Writes
benchmarks/results/corpus_recall[_TAG].json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from tqdm import tqdm

from benchmarks.common import peak_rss_mb, write_result
from kqa.data import load_questions
from kqa.graph.corpus import content_id
from kqa.packaged import support_paragraphs
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.retriever import FactRetriever
from kqa.retrieval.sentences import SentenceSearch
from kqa.types import Evidence, Fact, Question

DATA = "sciq:validation"
DEV = 500  # sciq-1..sciq-500; the other 500 questions are held out
KS = (5, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", type=Path, nargs="?", default=Path("graphs/sciq"), help="Graph folder.")
    parser.add_argument("--n", type=int, default=DEV, help=f"First N questions (at most {DEV}).")
    parser.add_argument("--mix", type=float, default=RetrievalConfig().mix, help="Graph weight of fused retrieval.")
    parser.add_argument("--dense-k", type=int, default=10, help="Dense candidates per choice.")
    forms = get_args(RetrievalConfig.model_fields["query"].annotation)
    parser.add_argument("--query", choices=forms, default="question",
                        help="Dense query per choice: the question as written (pipelines/corpus-qa.yaml's) or its "
                        "content words (retrieval.query's default).")
    parser.add_argument("--spacy-model", default="en-core-web-sm")
    parser.add_argument("--tag", default="", help="Suffix of the result file.")
    args = parser.parse_args()
    if not 0 < args.n <= DEV:
        parser.error(f"--n must be in 1..{DEV} (the questions after sciq-{DEV} are held out), got {args.n}")
    ensure_graph(args.graph, args.spacy_model)
    questions = load_questions(DATA, limit=args.n).questions
    own = own_documents(q.id for q in questions)
    asked = [q for q in questions if q.id in own]
    retrievers = make_retrievers(args.graph, args.spacy_model, args.mix, args.dense_k, args.query)
    documents = {doc_id for doc_id, _ in retrievers["fused"].store.sentences()}
    result = {"graph": str(args.graph), "data": DATA, "n": len(questions), "with_support": len(asked),
              "own_paragraph_in_graph": round(sum(own[q.id] in documents for q in asked) / max(len(asked), 1), 4),
              "mix": args.mix, "dense_k": args.dense_k, "query": args.query}
    result["modes"] = {mode: measure(retriever, asked, own, mode) for mode, retriever in retrievers.items()}
    result["peak_rss_mb"] = peak_rss_mb()
    path = write_result("corpus_recall" + (f"_{args.tag}" if args.tag else ""), result)
    for mode, row in result["modes"].items():
        print(f"{mode:<6} " + "  ".join(f"{key} {value}" for key, value in row.items()))
    print(f"written to {path}")


def ensure_graph(graph: Path, spacy_model: str) -> None:
    """Build the support-paragraph graph and its indexes when GRAPH holds no graph yet."""
    if (graph / "manifest.json").is_file():
        return
    from kqa.graph.builder import GraphBuilder
    from kqa.graph.config import GraphConfig
    from kqa.packaged import write_support_corpus
    from kqa.retrieval.service import build_index

    corpus = graph.with_name(graph.name + "-corpus")
    if not corpus.exists():
        print(f"writing {write_support_corpus(corpus)} support paragraphs to {corpus}", flush=True)
    GraphBuilder(GraphConfig(spacy_model=spacy_model)).run(corpus, graph, create=True)
    build_index(graph, sentences=True)


def own_documents(question_ids) -> dict[str, str]:
    """question id -> the graph document id of its support paragraph (for the questions that have one)."""
    wanted = set(question_ids)
    # the corpus reader normalizes line ends and strips a document before hashing it: so does this
    return {qid: content_id(text.replace("\r\n", "\n").strip()) for qid, text in support_paragraphs(DATA)
            if qid in wanted}


def make_retrievers(graph: Path, spacy_model: str, mix: float, dense_k: int, query: str) -> dict[str, FactRetriever]:
    """Graph-only, dense-only and fused sentence retrieval over one opened graph, linker, index and embedder."""
    fused = RetrievalConfig(sentences=True, sentence_k=max(KS), mix=mix, dense_k=dense_k, query=query)
    base = FactRetriever.from_graph(graph, spacy_model, fused)
    configs = {"graph": fused.model_copy(update={"mix": 1.0, "dense_k": 0}),
               "dense": fused.model_copy(update={"mix": 0.0}), "fused": fused}
    retrievers = {}
    for mode, config in configs.items():
        index = base.sentences.index if config.dense_k else None
        sentences = SentenceSearch(base.store, index, config)
        retrievers[mode] = FactRetriever(base.store, base.linker, base.index if config.dense_k else None,
                                         base.embedder, config, sentences)
    return retrievers


def measure(retriever: FactRetriever, questions: Sequence[Question], own: dict[str, str], mode: str) -> dict:
    hits = {f"{scope}recall@{k}": 0 for scope in ("", "gold_") for k in KS}
    sentences, choices, seconds = 0, 0, []
    for question in tqdm(questions, desc=mode, unit="q"):
        began = time.perf_counter()
        evidence = retriever.run(question)
        seconds.append(time.perf_counter() - began)
        for key, hit in recall(question, evidence, own[question.id]).items():
            hits[key] += hit
        per_choice = [[f for f in facts if f.origin == "sentence"] for facts in evidence.per_choice]
        sentences += sum(map(len, per_choice))
        choices += len(per_choice)
    seconds.sort()
    out = {key: round(count / max(len(questions), 1), 4) for key, count in hits.items()}
    return out | {"sentences_per_choice": round(sentences / max(choices, 1), 2),
                  "p50_ms": round(1000 * seconds[len(seconds) // 2], 1) if seconds else None}


def recall(question: Question, evidence: Evidence, own_doc: str, ks: Sequence[int] = KS) -> dict[str, bool]:
    """Whether `own_doc` gives one of the question's top-k sentences (over all choices) and one of the gold
    choice's top k, for each k."""
    pooled = top_sentences([f for facts in evidence.per_choice for f in facts])
    gold = [i for i, c in enumerate(question.choices) if c.label == question.answer]
    mine = top_sentences(evidence.per_choice[gold[0]]) if gold else []
    out = {}
    for k in ks:
        out[f"recall@{k}"] = any(f.provenance[0].source == own_doc for f in pooled[:k])
        out[f"gold_recall@{k}"] = any(f.provenance[0].source == own_doc for f in mine[:k])
    return out


def top_sentences(facts: Sequence[Fact]) -> list[Fact]:
    """The distinct sentences (by id) among `facts`, best-scored first (ties by id)."""
    best: dict[str, Fact] = {}
    for fact in facts:
        if fact.origin == "sentence" and (fact.id not in best or fact.score > best[fact.id].score):
            best[fact.id] = fact
    return sorted(best.values(), key=lambda f: (-f.score, f.id))


if __name__ == "__main__":
    main()
