"""Query encoding, the critical path of dense retrieval (issue #19): ways to encode a question's 5 queries, alone and
beside the rest of retrieval (FactRetriever.run without dense search: linking, graph paths, fusion, in the calling
thread while the encoding runs in another, as FactRetriever does), per question, side by side in turn.

    python -m benchmarks.bench_query_encoding graphs/cn4-csqa --n 400

Options timed (int8 MiniLM on onnxruntime, `index.embedder: minilm-l6-int8`):
- `two_threads`: what kqa did before `retrieval.query: content` (its `query: question`): one batch of "question
  choice" x 5, onnxruntime's default intra-op threads;
- `one_thread`: the same with one intra-op thread, so the encoding and linking each keep a core;
- `question_once`: the question and the 5 choices as 6 texts in one call (fewer tokens, but every row is padded to the
  question's length) — a different query, timed only to see whether it is faster.
Writes benchmarks/results/query_encoding.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import write_result

EMBEDDER = "minilm-l6-int8"


def session(threads: int):
    """A session like OnnxSentenceEncoder's (no spinning), with `threads` intra-op threads (0: onnxruntime's)."""
    import onnxruntime

    from kqa.retrieval.onnx_embed import quantized_model

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(quantized_model(EMBEDDER) / "model.onnx"), options,
                                        providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", type=Path, nargs="?", default=Path("graphs/cn4-csqa"))
    parser.add_argument("--n", type=int, default=400, help="CSQA validation questions timed (after 20 to warm up).")
    args = parser.parse_args()

    from kqa.data import load_questions
    from kqa.retrieval.config import RetrievalConfig
    from kqa.retrieval.onnx_embed import OnnxSentenceEncoder
    from kqa.retrieval.retriever import FactRetriever

    questions = load_questions("csqa:validation").questions[: args.n + 20]
    retrieval = RetrievalConfig(dense_k=0, paths={"two_hop_weight": 0, "choice_weight": 0},
                                linking={"overlapping": True, "parse_question": False})
    retriever = FactRetriever.from_graph(args.graph, "en-core-web-sm", retrieval)
    encoders = {}
    for name, threads in (("two_threads", 0), ("one_thread", 1)):
        encoders[name] = OnnxSentenceEncoder(EMBEDDER)
        encoders[name].session = session(threads)
    def pairs(q):  # FactRetriever's queries with `retrieval.query: question`
        return [f"{q.stem} {c.text}" for c in q.choices]

    texts = {"two_threads": pairs, "one_thread": pairs, "question_once": lambda q: [q.stem, *(c.text for c in q.choices)]}
    encoder_of = {"two_threads": "two_threads", "one_thread": "one_thread", "question_once": "two_threads"}
    pool = ThreadPoolExecutor(max_workers=1)
    seconds: dict[str, list[float]] = {"graph": []} | {f"{o}_{m}": [] for o in texts for m in ("alone", "beside")}
    for k, question in enumerate(questions):
        timed = k >= 20  # the first 20 warm up spaCy, onnxruntime and the graph's hubs
        began = time.perf_counter()
        retriever.run(question)
        if timed:
            seconds["graph"].append(time.perf_counter() - began)
        for option, make in texts.items():
            encode = encoders[encoder_of[option]].encode
            began = time.perf_counter()
            encode(make(question))
            alone = time.perf_counter() - began
            began = time.perf_counter()
            pending = pool.submit(encode, make(question))
            retriever.run(question)
            pending.result()
            if timed:
                seconds[f"{option}_alone"].append(alone)
                seconds[f"{option}_beside"].append(time.perf_counter() - began)
    p50 = {name: round(statistics.median(values) * 1000, 2) for name, values in seconds.items()}
    write_result("query_encoding", {"graph": str(args.graph), "embedder": EMBEDDER, "n": args.n, "p50_ms": p50})
    for name, value in p50.items():
        print(f"{name:<22} p50 {value:6.2f} ms")


if __name__ == "__main__":
    main()
