"""Build, update and prune a graph from a corpus: parse only new or changed documents, commit in batches."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from itertools import chain, islice
from pathlib import Path

from tqdm import tqdm

from kqa.errors import StoreError
from kqa.graph.conceptnet import ConceptNetImporter
from kqa.graph.config import GraphConfig
from kqa.graph.corpus import RawDocument, Skipped, read_corpus
from kqa.graph.engines import Parser, make_parser
from kqa.graph.model import AddDocument, Changes, Document, Operation, RemoveName
from kqa.graph.store import MANIFEST, GraphStore
from kqa.graph.wordnet import WordNetImporter, wordnet_gloss_corpus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpdateResult:
    """What one build/update/remove/import did. `added`/`removed` are triple ids (for indexes kept beside the graph)."""

    parsed: int = 0
    unchanged: int = 0
    removed_documents: int = 0
    skipped: tuple[Skipped, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    triples: int = 0  # triples extracted or imported (before merging into edges)
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)  # what a command adds to the common fields (e.g. counts per rule)

    def to_dict(self) -> dict:
        return {**self.details, "documents_parsed": self.parsed, "documents_unchanged": self.unchanged,
                "documents_removed": self.removed_documents,
                "skipped": [{"document": s.name, "reason": s.reason} for s in self.skipped],
                "triples_extracted": self.triples, "edges_added": len(self.added), "edges_removed": len(self.removed),
                "added_ids": list(self.added), "removed_ids": list(self.removed),
                "seconds": round(self.seconds, 3), "graph": self.counts}

    def then(self, later: UpdateResult) -> UpdateResult:
        """Two results as one (e.g. WordNet relations, then its glosses)."""
        tally = _Tally()
        tally.add(Changes(set(self.added), set(self.removed)))
        tally.add(Changes(set(later.added), set(later.removed)))
        return UpdateResult(self.parsed + later.parsed, self.unchanged + later.unchanged,
                            self.removed_documents + later.removed_documents, self.skipped + later.skipped,
                            tuple(sorted(tally.total.added)), tuple(sorted(tally.total.removed)),
                            self.triples + later.triples, self.seconds + later.seconds, later.counts)

    def summary(self, max_skipped: int = 10) -> str:
        c = self.counts
        lines = [f"documents  parsed {self.parsed}, unchanged {self.unchanged}, removed {self.removed_documents}, "
                 f"skipped {len(self.skipped)}",
                 f"triples    extracted {self.triples}; edges added {len(self.added)}, removed {len(self.removed)}",
                 f"graph      {c.get('nodes', 0)} concepts, {c.get('edges', 0)} edges, "
                 f"{c.get('documents', 0)} documents",
                 f"time       {self.seconds:.1f} s"]
        lines += [f"{key:<10} {value}" for key, value in self.details.items()]
        lines += [f"  skipped {s.name}: {s.reason}" for s in self.skipped[:max_skipped]]
        if len(self.skipped) > max_skipped:
            lines.append(f"  ... and {len(self.skipped) - max_skipped} more skipped")
        return "\n".join(lines)


class _Tally:
    """Net edge changes over several committed batches."""

    def __init__(self) -> None:
        self.total = Changes()

    def add(self, batch: Changes) -> None:
        for tid in batch.removed:
            self.total.deleted(tid)
        for tid in batch.added:
            self.total.created(tid)


class GraphBuilder:
    """`run(corpus, graph)`: bring the graph up to date with the corpus. Unchanged documents are skipped by hash."""

    def __init__(self, config: GraphConfig = GraphConfig(), parser: Parser | None = None, progress: bool = True):
        self.config, self.progress = config, progress
        self.parser = parser if parser is not None else make_parser(config)

    def run(self, corpus: str | Path | Iterable[RawDocument], graph: str | Path, *, create: bool = False
            ) -> UpdateResult:
        """`corpus`: a folder, a .txt/.md file, a .jsonl file, or RawDocuments (e.g. wordnet_gloss_corpus())."""
        start = time.perf_counter()
        items = self._items(corpus)  # before the store opens: a missing corpus must not leave an empty graph behind
        with _open(graph, self.config, create) as store:
            if create and store.state.docs:
                raise StoreError(f"a graph already exists at {graph}; use `kqa graph update` to change it.")
            aliases, todo, unchanged, skipped = self._plan(store, items)
            tally, triples = _Tally(), 0
            tally.add(store.commit(aliases))  # before any changed document can retract their content
            for batch in _chunks(self._parse(todo), self.config.commit_every):
                triples += sum(len(d.triples) for d in batch)
                tally.add(store.commit([AddDocument(d) for d in batch]))
            tally.add(retract_stale_inferences(store, tally.total))
            counts = store.state.counts()
        return UpdateResult(len(todo), unchanged, 0, tuple(skipped), tuple(sorted(tally.total.added)),
                            tuple(sorted(tally.total.removed)), triples, time.perf_counter() - start, counts)

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


def remove_documents(graph: str | Path, keys: Iterable[str], config: GraphConfig = GraphConfig()) -> UpdateResult:
    """Retract documents given by content id or by name; an edge with no support left disappears."""
    start = time.perf_counter()
    with _open(graph, config, False) as store:
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
        tally = _Tally()
        tally.add(store.commit(ops))
        tally.add(retract_stale_inferences(store, tally.total))
        changes = tally.total
        removed_docs = sum(1 for d in docs if d not in store.state.docs)
        counts = store.state.counts()
    return UpdateResult(removed_documents=removed_docs, skipped=tuple(skipped), added=tuple(sorted(changes.added)),
                        removed=tuple(sorted(changes.removed)), seconds=time.perf_counter() - start, counts=counts)


def import_documents(graph: str | Path | GraphStore, docs: Iterable[Document], config: GraphConfig = GraphConfig()
                     ) -> UpdateResult:
    """Add ready-made documents (importers); one batch, replacing any earlier version under the same name.

    `graph`: a folder (created when missing), or a GraphStore open for writing, used and left open. A document the
    graph holds already under its name counts as unchanged."""
    start = time.perf_counter()
    with nullcontext(graph) if isinstance(graph, GraphStore) else _open(graph, config, True) as store:
        docs = list(docs)
        new = [d for d in docs if store.state.names.get(d.name) != d.id]
        tally = _Tally()
        tally.add(store.commit([AddDocument(d) for d in new]))
        tally.add(retract_stale_inferences(store, tally.total))
        changes = tally.total
        counts = store.state.counts()
    return UpdateResult(parsed=len(new), unchanged=len(docs) - len(new), added=tuple(sorted(changes.added)),
                        removed=tuple(sorted(changes.removed)), triples=sum(len(d.triples) for d in new),
                        seconds=time.perf_counter() - start, counts=counts)


def _open(graph, config: GraphConfig, create: bool) -> GraphStore:
    return GraphStore.open(graph, writable=True, create=create, compact_min_bytes=config.compact_min_bytes)


def _open_existing(graph: str | Path, config: GraphConfig):
    """The graph opened for writing as a context manager, or nullcontext(None) when there is none yet."""
    return _open(graph, config, False) if (Path(graph) / MANIFEST).exists() else nullcontext(None)


def open_graph(graph: str | Path | GraphStore, config: GraphConfig = GraphConfig()):
    """An existing graph opened for writing (validate, infer, resolve use it), as a context manager.

    Given a GraphStore already open for writing, use it and leave it open: a caller running several steps on a big
    graph reads it once.
    """
    if isinstance(graph, GraphStore):
        return nullcontext(graph)
    return _open(graph, config, False)


def retract_stale_inferences(store: GraphStore, after: Changes | None = None) -> Changes:
    """After a change, drop inferred edges that lost a premise (see kqa.graph.inference).

    `after`: the changes just made; premises only go when edges go (removal, quarantine, merge), so a change that
    removed nothing needs no scan. None: scan anyway."""
    from kqa.graph.inference import stale_inference_ops

    if after is not None and not after.removed:
        return Changes()
    return store.commit(stale_inference_ops(store.state))


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(items, size)):
        yield batch


def import_wordnet(graph: str | Path, config: GraphConfig = GraphConfig(), *, folder: str | Path | None = None,
                   glosses: bool = False, gloss_limit: int | None = None, progress: bool = True) -> UpdateResult:
    """WordNet relations and descriptions; with `glosses`, also its glosses and examples parsed as a corpus."""
    result = import_documents(graph, [WordNetImporter(folder).run()], config)
    if glosses:
        corpus = wordnet_gloss_corpus(folder, gloss_limit)
        result = result.then(GraphBuilder(config, progress=progress).run(corpus, graph))
    return result


def import_conceptnet(graph: str | Path, path: str | Path, config: GraphConfig = GraphConfig()) -> UpdateResult:
    """English edges of a ConceptNet 5 assertions file (.csv or .csv.gz), weights kept as confidences."""
    return import_conceptnet_file(graph, ConceptNetImporter(path), config)


def import_conceptnet_file(graph: str | Path, importer: ConceptNetImporter, config: GraphConfig = GraphConfig()
                           ) -> UpdateResult:
    """Read a ConceptNet file with `importer` and add its Document; malformed lines are reported as skipped.

    A graph that holds this very Document already (same file, same vocabulary) is left as it is, file unread. A new
    graph is created only once the file has been read: a file refused as a whole leaves no empty graph behind."""
    start = time.perf_counter()
    document_id = importer.document_id  # hashes the file: a missing one is refused before anything is opened
    with _open_existing(graph, config) as store:
        if store is not None and store.state.names.get(importer.name) == document_id:
            return UpdateResult(unchanged=1, seconds=time.perf_counter() - start, counts=store.state.counts())
        doc, bad = importer.run()
        result = import_documents(graph if store is None else store, [doc], config)
    skipped = (Skipped(str(importer.path), f"{bad} malformed lines"),) if bad else ()
    return replace(result, skipped=result.skipped + skipped, seconds=time.perf_counter() - start)
