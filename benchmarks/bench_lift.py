"""The table that decides: for one backbone x method, three readers trained and tested the same way on the CSQA
test part of a seeded split — without facts, with the retrieved facts, with control facts (another question's) —
and the paired lifts (facts - without), (facts - control) with bootstrap CI and McNemar p.

    python -m benchmarks.bench_lift --pipeline pipelines/encoder-facts.yaml --graph graphs/cn4-csqa --n 1221

Each reader is saved under runs/lift/<tag>/<reader>/ with its test result (test.json, with its test logits) as soon
as it is tested, so a stopped run resumes where it was; the JSON goes to benchmarks/results/lift_<tag>.json once
every reader is done.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import yaml

from benchmarks.common import peak_rss_mb, write_result
from kqa.config import load_config
from kqa.data import load_questions
from kqa.evaluation.lift import READERS, KnowledgeLift
from kqa.retrieval.retriever import CachedRetriever, FactRetriever
from kqa.train import graph_checksum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml")
    parser.add_argument("--graph", type=Path, default=None, help="Graph folder (default: the pipeline's graph.path).")
    parser.add_argument("--data", default="csqa:validation")
    parser.add_argument("--n", type=int, default=1221, help="First N questions, split by the pipeline's train section.")
    parser.add_argument("--tag", default=None, help="Name of this configuration (default: backbone-method-knowledge).")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE",
                        help="Override config fields, e.g. adapter.method=full train.lr=5e-5.")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--without-dir", type=Path, default=None,
                        help="Where the reader without facts lives (share one between retrieval settings).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    config = load_config(_merged(yaml.safe_load(Path(args.pipeline).read_text(encoding="utf-8")), args.set))
    graph = args.graph or Path(config.graph.path)
    tag = args.tag or f"{config.adapter.backbone}-{config.adapter.method}-{config.adapter.knowledge}"
    questions = load_questions(args.data, limit=args.n).questions
    retriever = CachedRetriever(FactRetriever.from_graph(graph, config.graph.spacy_model, config.retrieval))
    began = time.perf_counter()
    lift = KnowledgeLift(config.adapter, config.train, retriever, graph_checksum=graph_checksum(graph),
                         retrieval_key=config.retrieval.model_dump(mode="json"), readers=args.readers.split(","))
    result = lift.run(questions, Path("runs/lift") / tag, without_dir=args.without_dir)
    print(result.table())
    latencies = sorted(retriever.seconds)
    write_result(f"lift_{tag}", {
        "command": "python -m benchmarks.bench_lift " + " ".join(f"{k}={v}" for k, v in vars(args).items()),
        "data": args.data, "n": len(questions), "graph": str(graph), "adapter": config.adapter.model_dump(mode="json"),
        "train": config.train.model_dump(mode="json"), "retrieval": config.retrieval.model_dump(mode="json"),
        "result": result.to_dict(), "seconds": round(time.perf_counter() - began, 1), "peak_rss_mb": peak_rss_mb(),
        "retrieval_p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
    })


def _merged(config: dict, pairs: list[str]) -> dict:
    """Apply ["adapter.method=full", "train.lr=5e-5"] to the YAML's dict (values parsed as YAML scalars)."""
    for pair in pairs:
        key, _, value = pair.partition("=")
        *path, field = key.split(".")
        node = config
        for part in path:
            node = node.setdefault(part, {})
        node[field] = yaml.safe_load(value)
    return config


if __name__ == "__main__":
    main()
