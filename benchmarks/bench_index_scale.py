"""How long would a ConceptNet-sized fact index take (issue #19)? Embed a seeded sample of the graph's verbalized facts
with the index's embedder at a few batch sizes and extrapolate to all of them.

    python -m benchmarks.bench_index_scale graphs/cn4 [--sample 20000] [--batch-sizes 64 256 1024]

sentence-transformers already sorts each call's texts by length (so batches hold similar lengths); what remains to
choose is the batch size. Writes benchmarks/results/index_scale.json with facts/s per batch size and the projected
minutes for the whole graph (goal: <= 10 min for ConceptNet 4 on 2 cores).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.graph.store import GraphStore
from kqa.retrieval.facts import retrievable
from kqa.retrieval.index import Embedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", type=Path, nargs="?", default=Path("graphs/cn4"))
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--embedder", default="minilm-l6")
    args = parser.parse_args()
    with GraphStore.open(args.graph) as store:
        _, texts = retrievable(store.edges())
    sample = random.Random(0).sample(list(texts), min(args.sample, len(texts)))
    rows = {}
    for size in args.batch_sizes:
        embedder = Embedder(args.embedder, size)
        embedder.encode(sample[:size])  # load the model and warm up
        began = time.perf_counter()
        embedder.encode(sample)
        seconds = time.perf_counter() - began
        rate = len(sample) / seconds
        rows[size] = {"facts_per_s": round(rate, 1), "projected_min": round(len(texts) / rate / 60, 1)}
        print(f"batch {size}: {rate:.0f} facts/s -> {len(texts):,} facts in {len(texts) / rate / 60:.1f} min")
    write_result("index_scale", {"graph": str(args.graph), "facts": len(texts), "sample": len(sample),
                                 "embedder": args.embedder, "batch_sizes": rows, "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
