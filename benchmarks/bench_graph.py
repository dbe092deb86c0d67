"""Benchmark of `kqa graph build` on the WordNet gloss corpus against bare nlp.pipe (same pipeline, same run).

    .venv/bin/python benchmarks/bench_graph.py --docs 16000        # ~20k sentences; --docs 500 for a quick run

Writes benchmarks/results/graph.json: build/bare time ratio (target <= 1.25), triples per second, peak RSS, and the
time of an update where 1% of the documents changed against the full build (target <= 0.05).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kqa.graph.builder import GraphBuilder  # noqa: E402
from kqa.graph.config import GraphConfig  # noqa: E402
from kqa.graph.engines import LocalParser  # noqa: E402
from kqa.graph.importers import wordnet_gloss_corpus  # noqa: E402
from kqa.models import load_spacy  # noqa: E402


def bare_pipe(nlp, texts: list[str], config: GraphConfig) -> tuple[float, int]:
    start = time.perf_counter()
    sentences = sum(len(list(doc.sents)) for doc in nlp.pipe(texts, batch_size=config.batch_size,
                                                             n_process=config.workers))
    return time.perf_counter() - start, sentences


def timed_run(builder: GraphBuilder, docs, graph: Path, create: bool):
    start = time.perf_counter()
    result = builder.run(docs, graph, create=create)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=16000, help="WordNet synsets (documents) to use.")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/graph.json"))
    args = parser.parse_args()

    config = GraphConfig(workers=args.workers)
    nlp = load_spacy(config.spacy_model)
    docs = list(wordnet_gloss_corpus(limit=args.docs))
    texts = [d.text for d in docs]
    nlp.pipe(texts[:50]).__next__()  # warm-up outside the timings
    bare_s, sentences = bare_pipe(nlp, texts, config)
    builder = GraphBuilder(config, parser=LocalParser(config, nlp), progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "g"
        build_s, built = timed_run(builder, docs, graph, create=True)
        bare_again_s, _ = bare_pipe(nlp, texts, config)  # the pipe timed after the build too: order effects
        rng = random.Random(0)
        changed = set(rng.sample(range(len(docs)), max(1, len(docs) // 100)))
        edited = [replace(d, text=d.text + " It is common.") if i in changed else d for i, d in enumerate(docs)]
        update_s, updated = timed_run(builder, edited, graph, create=False)
        size = sum(f.stat().st_size for f in graph.iterdir())
    bare_mean = (bare_s + bare_again_s) / 2
    report = {
        "corpus": "WordNet 3.0 glosses + examples (one document per synset, nouns first)",
        "documents": len(docs), "sentences": sentences, "spacy_model": config.spacy_model, "workers": args.workers,
        "bare_nlp_pipe_s": [round(bare_s, 2), round(bare_again_s, 2)],
        "build_s": round(build_s, 2), "build_over_bare_ratio": round(build_s / bare_mean, 3),
        "target_ratio": 1.25, "triples": built.triples, "edges": built.counts["edges"],
        "nodes": built.counts["nodes"], "triples_per_s": round(built.triples / build_s, 1),
        "sentences_per_s_build": round(sentences / build_s, 1),
        "update_changed_docs": len(changed), "update_parsed": updated.parsed, "update_s": round(update_s, 3),
        "update_over_build_ratio": round(update_s / build_s, 4), "target_update_ratio": 0.05,
        "update_edges_added": len(updated.added), "update_edges_removed": len(updated.removed),
        "graph_bytes_on_disk": size, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
