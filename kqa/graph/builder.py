"""Build, update and prune a graph from a corpus: parse only new or changed documents, commit in batches."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from itertools import chain, islice
from pathlib import Path

from tqdm import tqdm

from kqa.errors import StoreError
from kqa.graph.config import GraphConfig
from kqa.graph.corpus import RawDocument, Skipped, read_corpus
from kqa.graph.engines import Parser, make_parser
from kqa.graph.indexes import BESIDE, IndexSync, keep_in_step
from kqa.graph.inference import retract_stale_inferences
from kqa.graph.model import AddDocument, Document, Operation, RemoveName
from kqa.graph.store import GraphStore
from kqa.graph.update import Tally, UpdateResult, open_for_writing, open_graph

# UpdateResult, open_graph and retract_stale_inferences lived here; the importers moved to kqa.graph.importers
__all__ = ["GraphBuilder", "UpdateResult", "import_documents", "open_graph", "remove_documents",
           "retract_stale_inferences"]
logger = logging.getLogger(__name__)


class GraphBuilder:
    """`run(corpus, graph)`: bring the graph up to date with the corpus. Unchanged documents are skipped by hash.

    `index`: keeps the indexes beside the graph in step after each run (default: those the folder holds; None: no
    sync; kqa.graph.indexes)."""

    def __init__(self, config: GraphConfig = GraphConfig(), parser: Parser | None = None, progress: bool = True,
                 index: IndexSync | None = BESIDE):
        self.config, self.progress, self.index = config, progress, index
        self.parser = parser if parser is not None else make_parser(config)

    def run(self, corpus: str | Path | Iterable[RawDocument], graph: str | Path, *, create: bool = False
            ) -> UpdateResult:
        """`corpus`: a folder, a .txt/.md file, a .jsonl file, or RawDocuments (e.g. wordnet_gloss_corpus())."""
        start = time.perf_counter()
        items = self._items(corpus)  # before the store opens: a missing corpus must not leave an empty graph behind
        with open_for_writing(graph, self.config, create) as store:
            if create and store.state.docs:
                raise StoreError(f"a graph already exists at {graph}; use `kqa graph update` to change it.")
            aliases, todo, unchanged, skipped = self._plan(store, items)
            tally, triples = Tally(), 0
            tally.add(store.commit(aliases))  # before any changed document can retract their content
            for batch in _chunks(self._parse(todo), self.config.commit_every):
                triples += sum(len(d.triples) for d in batch)
                tally.add(store.commit([AddDocument(d) for d in batch]))
            tally.add(retract_stale_inferences(store, tally.total))
            counts = store.state.counts()
        result = UpdateResult(len(todo), unchanged, 0, tuple(skipped), tuple(sorted(tally.total.added)),
                              tuple(sorted(tally.total.removed)), triples, time.perf_counter() - start, counts)
        keep_in_step(graph, self.index, result.added, result.removed, documents=result.parsed)
        return result

    def _items(self, corpus: str | Path | Iterable[RawDocument]) -> Iterable[RawDocument | Skipped]:
        """The corpus's items, a path checked now: read_corpus refuses a missing, unusable or empty one (InputError)
        when asked for its first item, so that item is read here and put back."""
        if not isinstance(corpus, (str, Path)):
            return corpus
        items = read_corpus(corpus, max_bytes=self.config.max_doc_bytes, extensions=self.config.extensions)
        first = next(items, None)
        return items if first is None else chain([first], items)

    def _plan(self, store: GraphStore, items: Iterable[RawDocument | Skipped]
              ) -> tuple[list[Operation], list[RawDocument], int, list[Skipped]]:
        todo, skipped, candidates, changed, unchanged = [], [], [], set(), 0
        for item in items:
            if isinstance(item, Skipped):
                skipped.append(item)
                continue
            doc_id = item.id
            if store.state.names.get(item.name) == doc_id:
                unchanged += 1
                continue
            changed.add(item.name)
            (candidates if doc_id in store.state.docs else todo).append(item)
        aliases = []
        for item in candidates:  # same text already parsed under another name: reuse it unless it loses every name
            if store.state.docs[item.id].names <= changed:
                todo.append(item)
            else:
                aliases.append(AddDocument(Document(item.id, item.name)))
        for s in skipped:
            logger.warning("skipped %s: %s", s.name, s.reason)
        return aliases, todo, unchanged, skipped

    def _parse(self, todo: list[RawDocument]) -> Iterator[Document]:
        bar = tqdm(total=len(todo), unit="doc", desc="parsing", file=sys.stderr, disable=not self.progress or not todo)
        with bar:
            for doc in self.parser.run(todo) if todo else ():
                bar.update(1)
                yield doc


def remove_documents(graph: str | Path, keys: Iterable[str], config: GraphConfig = GraphConfig(), *,
                     index: IndexSync | None = BESIDE) -> UpdateResult:
    """Retract documents given by content id or by name; an edge with no support left disappears. `index`: as
    GraphBuilder's."""
    start = time.perf_counter()
    with open_for_writing(graph, config, False) as store:
        ops, skipped, docs = [], [], set()
        for key in keys:
            if key in store.state.docs:
                ops += [RemoveName(key, name) for name in sorted(store.state.docs[key].names)]
                docs.add(key)
            elif key in store.state.names:
                ops.append(RemoveName(store.state.names[key], key))
                docs.add(store.state.names[key])
            else:
                skipped.append(Skipped(key, "no such document id or name in the graph"))
        tally = Tally()
        tally.add(store.commit(ops))
        tally.add(retract_stale_inferences(store, tally.total))
        changes = tally.total
        removed_docs = sum(1 for d in docs if d not in store.state.docs)
        counts = store.state.counts()
    result = UpdateResult(removed_documents=removed_docs, skipped=tuple(skipped), added=tuple(sorted(changes.added)),
                          removed=tuple(sorted(changes.removed)), seconds=time.perf_counter() - start, counts=counts)
    keep_in_step(graph, index, result.added, result.removed, documents=removed_docs)
    return result


def import_documents(graph: str | Path | GraphStore, docs: Iterable[Document], config: GraphConfig = GraphConfig(),
                     *, index: IndexSync | None = BESIDE) -> UpdateResult:
    """Add ready-made documents (importers); one batch, replacing any earlier version under the same name.

    `graph`: a folder (created when missing), or a GraphStore open for writing, used and left open. A document the
    graph holds already under its name counts as unchanged. `index`: as GraphBuilder's."""
    start = time.perf_counter()
    with nullcontext(graph) if isinstance(graph, GraphStore) else open_for_writing(graph, config, True) as store:
        docs = list(docs)
        new = [d for d in docs if store.state.names.get(d.name) != d.id]
        tally = Tally()
        tally.add(store.commit([AddDocument(d) for d in new]))
        tally.add(retract_stale_inferences(store, tally.total))
        changes = tally.total
        counts = store.state.counts()
    result = UpdateResult(parsed=len(new), unchanged=len(docs) - len(new), added=tuple(sorted(changes.added)),
                          removed=tuple(sorted(changes.removed)), triples=sum(len(d.triples) for d in new),
                          seconds=time.perf_counter() - start, counts=counts)
    keep_in_step(graph, index, result.added, result.removed, documents=result.parsed)
    return result


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(items, size)):
        yield batch
