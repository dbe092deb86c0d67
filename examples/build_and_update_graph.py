"""Build a knowledge graph from a folder of documents, add a document, remove one, and show what changed.

    python examples/build_and_update_graph.py                     # data/corpus_small into a temporary graph
    python examples/build_and_update_graph.py --corpus my_docs --graph graphs/mine

The corpus folder itself is never modified: the example works on a copy of it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from kqa.graph.builder import GraphBuilder, UpdateResult, remove_documents
from kqa.graph.store import GraphStore

NEW_DOCUMENT = "A kettle is used for boiling water. Tea is made from leaves. A teapot is made of porcelain.\n"


def show(title: str, result: UpdateResult, graph: Path, limit: int = 5) -> None:
    print(f"== {title}")
    print(result.summary())
    with GraphStore.open(graph) as store:
        for tid in result.added[:limit]:
            edge = store.edge(tid)
            if edge is not None:
                print(f"   + {edge.head} --{edge.relation}--> {edge.tail}")
    print(f"   ({len(result.removed)} edges removed)" if result.removed else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="data/corpus_small", help="folder of .txt/.md documents")
    parser.add_argument("--graph", help="new graph folder (default: a temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus"
        shutil.copytree(args.corpus, corpus)
        graph = Path(args.graph) if args.graph else Path(work) / "graph"
        builder = GraphBuilder(progress=False)
        show("build", builder.run(corpus, graph, create=True), graph)

        (corpus / "kitchen.txt").write_text(NEW_DOCUMENT, encoding="utf-8")
        show("update: kitchen.txt added (only it is parsed)", builder.run(corpus, graph), graph)

        removed = min(p.name for p in corpus.iterdir() if p.name != "kitchen.txt")
        show(f"remove {removed}", remove_documents(graph, [removed]), graph)


if __name__ == "__main__":
    main()
