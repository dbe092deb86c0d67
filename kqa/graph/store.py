"""Crash-safe graph store: snapshot + append-only log + manifest, under one folder, one writer at a time.

Layout of a graph folder:
  manifest.json          which snapshot and how many log bytes are committed, counts, checksums
  snapshot-NNNNNN.jsonl  the whole graph at generation N (canonical JSON lines, sha256 in the manifest)
  log-NNNNNN.jsonl       batches since that snapshot: one line per batch, "<sha256> <json>"
  lock                   flock'ed by the writer (the kernel drops the lock when the writer dies)

The commit point of a batch is the atomic rename of the new manifest. Log bytes past `log_bytes` belong to a batch
that was interrupted and are ignored (and cut off by the next writer); temp files are never read. So a reader sees
the graph before or after each batch, never in between.
"""

from __future__ import annotations

import fcntl
import hashlib
import heapq
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from kqa.errors import StoreError
from kqa.graph.codec import decode_op, dump_state, encode_op, load_state
from kqa.graph.model import Changes, Concept, Edge, Operation
from kqa.graph.state import GraphState

logger = logging.getLogger(__name__)

FORMAT, VERSION = "kqa-graph", 1
SNAPSHOT_HEADER = json.dumps({"format": "kqa-graph-snapshot", "version": VERSION})
MANIFEST = "manifest.json"
# what reading a graph needs from its manifest, by type (a hand-edited or truncated one names the key and the rule);
# counters are never negative; `snapshot` and `log` name the generation's files beside it
MANIFEST_KEYS = {"generation": int, "snapshot": str, "snapshot_sha256": str, "snapshot_bytes": int, "log": str,
                 "log_bytes": int, "batches": int, "counts": dict}
FILE_NAMES = {"snapshot": re.compile(r"snapshot-[0-9]{6,}\.jsonl"), "log": re.compile(r"log-[0-9]{6,}\.jsonl")}
EDGE_VIEWS = 1 << 18  # Edge views kept for neighbours(): past this many (~70 MB) the memo starts over


class GraphStore:
    """A graph folder opened for reading, or for writing under its lock. Use as a context manager.

    Readers take no lock: they see the last committed batch at the time they open the folder.
    `neighbours` ranks a concept's edges once and keeps the order (and the Edge views it hands out) until the next
    `commit`, the only way the graph changes: retrieval asks for the same hubs ("person": ~19k edges in ConceptNet 4)
    question after question.
    """

    def __init__(self, path: Path, state: GraphState, manifest: dict, lock_fd: int | None, compact_min_bytes: int):
        self.path, self.state, self.manifest = path, state, manifest
        self._lock_fd, self._compact_min = lock_fd, compact_min_bytes
        self._broken = False
        self._ranked: dict[str, tuple[tuple[str, ...], bool]] = {}  # concept -> (edge ids best first, all of them?)
        self._views: dict[str, Edge] = {}  # resolved edge id -> its Edge, as neighbours() handed it out

    @classmethod
    def open(cls, path: str | Path, *, writable: bool = False, create: bool = False,
             compact_min_bytes: int = 1 << 20) -> GraphStore:
        path = Path(path)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(path) if writable else None
        try:
            if create and not (path / MANIFEST).exists():
                _initialise(path)
            try:
                manifest, state = _read(path)
            except StoreError:
                if writable:
                    raise
                manifest, state = _read(path)  # a writer may have switched generations under us: read once more
            store = cls(path, state, manifest, lock_fd, compact_min_bytes)
            if writable:
                store._clean_orphans()
            return store
        except BaseException:
            _unlock(lock_fd)
            raise

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        _unlock(self._lock_fd)
        self._lock_fd = None

    # ---- reading (what linking and retrieval use) ----------------------------------------------------------------
    def vocabulary(self) -> frozenset[str]:
        """Every concept name (lowercase lemmas, words joined by spaces); merged aliases are not nodes."""
        return self.state.vocabulary()

    def resolve(self, name: str) -> str:
        """The concept `name` was merged into (itself when it was not merged)."""
        return self.state.resolve(name)

    def aliases(self) -> dict[str, str]:
        """alias -> the name it was merged into."""
        return dict(self.state.alias.aliases)

    def concept(self, name: str) -> Concept | None:
        """The concept `name` or, for a merged alias, its canonical concept (with its aliases)."""
        return self.state.concept(name)

    def neighbours(self, name: str, limit: int | None = None) -> list[Edge]:
        """Edges incident to `name` (either direction), most confident first (ties: relation, id), with their
        provenance; only the first `limit` when given. The same list as `GraphState.neighbours`, ranked once per
        concept: a hub costs one pass over its edges on the first call and `limit` look-ups on every later one."""
        name = self.state.resolve(name)
        want = None if limit is None or limit < 0 else limit  # a negative limit counts from the end: rank them all
        ranked, complete = self._ranked.get(name, ((), False))
        if not complete and (want is None or len(ranked) < want):
            ranked, complete = self._rank(name, want)
            if ranked:  # not for names without edges: any text may be asked about
                self._ranked[name] = ranked, complete
        return [self._view(rid) for rid in ranked[:limit]]

    def _rank(self, name: str, limit: int | None) -> tuple[tuple[str, ...], bool]:
        """The resolved ids of the edges shown at `name` (its own and its aliases'), best first: all of them, or the
        best `limit` (a partial selection, ~3x cheaper than sorting a hub), and whether that is all of them."""
        state = self.state
        tids = {t for n in state.alias.closure(name) if n in state.concepts for t in state.concepts[n].edges}
        rids = {r for r in map(state.alias.resolved_id, tids) if r is not None}  # a merged edge once
        keyed = [_rank_key(state, r) for r in rids]
        if limit is None or limit >= len(keyed):
            return tuple(k[2] for k in sorted(keyed)), True
        return tuple(k[2] for k in heapq.nsmallest(limit, keyed)), False

    def _view(self, rid: str) -> Edge:
        edge = self._views.get(rid)
        if edge is None:
            if len(self._views) >= EDGE_VIEWS:
                self._views.clear()
            edge = self._views[rid] = self.state.edge(rid)
        return edge

    def _forget(self) -> None:
        """Drop what `neighbours` remembers: the graph is about to change."""
        self._ranked.clear()
        self._views.clear()

    def edge(self, triple_id: str) -> Edge | None:
        return self.state.edge(triple_id)

    def edges(self) -> Iterator[Edge]:
        return self.state.iter_edges()

    def sentences(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(document id, its sentences in order) for each document that kept its sentences, by id."""
        docs = self.state.docs
        return ((doc_id, docs[doc_id].sentences) for doc_id in sorted(docs) if docs[doc_id].sentences)

    def document_name(self, doc_id: str) -> str:
        """The first (sorted) name of document `doc_id`: its path or JSONL id; "" when the graph has no such one."""
        record = self.state.docs.get(doc_id)
        return min(record.names) if record is not None and record.names else ""

    def stats(self) -> dict:
        """{"nodes", "edges", "documents", "relations": {name: count}}."""
        return self.state.counts()

    # ---- writing -------------------------------------------------------------------------------------------------
    def commit(self, ops: list[Operation]) -> Changes:
        """Apply `ops` as one batch: after a crash the graph is as before the batch or as after it."""
        if self._lock_fd is None:
            raise StoreError(f"{self.path}: the graph was opened read-only; open it with writable=True to change it.")
        if self._broken:
            raise StoreError(f"{self.path}: an earlier write failed; reopen the graph before writing again.")
        changes = Changes()
        if not ops:
            return changes
        self._broken = True  # until the batch is on disk, memory is ahead of the files
        self._forget()
        for op in ops:
            self.state.apply(op, changes)
        self._append([encode_op(op) for op in ops])
        self._broken = False
        if self.manifest["log_bytes"] > max(self._compact_min, self.manifest["snapshot_bytes"]):
            self.compact()
        return changes

    def _append(self, encoded: list[dict]) -> None:
        body = json.dumps(encoded, ensure_ascii=False, separators=(",", ":"))
        line = f"{_sha(body.encode())} {body}\n".encode()
        log = self.path / self.manifest["log"]
        with open(log, "ab") as f:
            f.truncate(self.manifest["log_bytes"])  # drop the tail of a batch that never committed
            f.write(line)
            _fsync(f)
        manifest = dict(self.manifest, log_bytes=self.manifest["log_bytes"] + len(line),
                        batches=self.manifest["batches"] + 1)
        self._write_manifest(manifest)

    def compact(self) -> None:
        """Fold the log into a new snapshot (a new generation); old files are deleted after the switch."""
        generation = self.manifest["generation"] + 1
        name = f"snapshot-{generation:06d}.jsonl"
        size, digest = _write_atomic(self.path / name, _snapshot_lines(self.state))
        log = f"log-{generation:06d}.jsonl"
        _write_atomic(self.path / log, [])
        old = [self.manifest["snapshot"], self.manifest["log"]]
        self._write_manifest(dict(self.manifest, generation=generation, snapshot=name, snapshot_sha256=digest,
                                  snapshot_bytes=size, log=log, log_bytes=0, batches=0))
        for stale in old:
            (self.path / stale).unlink(missing_ok=True)

    def _write_manifest(self, manifest: dict) -> None:
        manifest["counts"] = self.state.counts()
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        _write_atomic(self.path / MANIFEST, [json.dumps(manifest, indent=1, ensure_ascii=False)])
        self.manifest = manifest

    def _clean_orphans(self) -> None:
        """Remove what a killed writer left: temp files and files of a generation the manifest does not name."""
        keep = {MANIFEST, "lock", self.manifest["snapshot"], self.manifest["log"]}
        for f in self.path.iterdir():
            if f.name not in keep and (f.name.endswith(".tmp") or f.name.startswith(("snapshot-", "log-"))):
                f.unlink(missing_ok=True)


def _rank_key(state: GraphState, rid: str) -> tuple[float, str, str]:
    """(-confidence, relation, id) of shown edge `rid`, the order of `GraphState.neighbours`, read off its record
    without building an Edge (a merged edge, whose supports are those of its raw edges together, is built)."""
    if rid in state.alias.groups:
        edge = state.edge(rid)
        return -edge.confidence, edge.relation, rid
    record = state.edges[rid]
    supports = record.supports
    confidence = supports[0].confidence if len(supports) == 1 else max((s.confidence for s in supports), default=0.0)
    return -confidence, record.relation, rid


def _initialise(path: Path) -> None:
    if any(p.name != "lock" for p in path.iterdir()):
        logger.info("creating a graph in non-empty folder %s", path)
    size, digest = _write_atomic(path / "snapshot-000000.jsonl", _snapshot_lines(GraphState()))
    _write_atomic(path / "log-000000.jsonl", [])
    manifest = {"format": FORMAT, "version": VERSION, "generation": 0, "snapshot": "snapshot-000000.jsonl",
                "snapshot_sha256": digest, "snapshot_bytes": size, "log": "log-000000.jsonl", "log_bytes": 0,
                "batches": 0, "counts": GraphState().counts()}
    _write_atomic(path / MANIFEST, [json.dumps(manifest, indent=1)])


def _read(path: Path) -> tuple[dict, GraphState]:
    manifest = _read_manifest(path)
    snapshot = path / manifest["snapshot"]
    data = _read_bytes(snapshot)
    if _sha(data) != manifest["snapshot_sha256"]:
        raise StoreError(f"{snapshot}: checksum does not match the manifest; the snapshot is damaged.")
    lines = data.decode("utf-8").splitlines()
    if not lines or lines[0] != SNAPSHOT_HEADER:
        raise StoreError(f"{snapshot}: not a kqa graph snapshot (first line {lines[:1]!r}).")
    try:
        state = load_state(lines[1:])
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{snapshot}: malformed record ({exc!r}).") from None
    _replay(path / manifest["log"], manifest["log_bytes"], state)
    if state.counts() != manifest["counts"]:
        raise StoreError(f"{path}: the data has counts {state.counts()} but the manifest says "
                         f"{manifest['counts']}; the graph is damaged.")
    return manifest, state


def _read_manifest(path: Path) -> dict:
    file = path / MANIFEST
    if not file.exists():
        raise StoreError(f"no graph at {path} ({MANIFEST} is missing). Build it first: `kqa graph build CORPUS "
                         f"--graph {path}` (or `kqa graph import wordnet --graph {path}`), or fix the --graph path.")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{file}: not a kqa graph manifest (not JSON: {exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise StoreError(f"{file}: `format` must be {FORMAT!r}, got {found!r}; this is not a kqa graph.")
    if manifest.get("version") != VERSION:
        raise StoreError(f"{file}: `version` {manifest.get('version')!r} is not supported (expected {VERSION}).")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise StoreError(f"{file}: the manifest lacks {', '.join(map(repr, missing))}; the graph is damaged.")
    for key, kind in MANIFEST_KEYS.items():
        value = manifest[key]
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            rule = "an int >= 0" if kind is int else kind.__name__
            raise StoreError(f"{file}: `{key}` must be {rule}, got {value!r}; the graph is damaged.")
    for key, pattern in FILE_NAMES.items():
        if not pattern.fullmatch(manifest[key]):
            raise StoreError(f"{file}: `{key}` must name a file beside the manifest, {key}-NNNNNN.jsonl (6 or "
                             f"more digits), got {manifest[key]!r}; the graph is damaged.")
    return manifest


def _replay(log: Path, committed: int, state: GraphState) -> None:
    data = _read_bytes(log)[:committed]  # bytes past `committed` are an interrupted batch
    if len(data) < committed:
        raise StoreError(f"{log}: has {len(data)} bytes but the manifest committed {committed}; the log is truncated.")
    changes = Changes()
    for n, line in enumerate(data.splitlines(), 1):
        digest, _, body = line.partition(b" ")
        if _sha(body) != digest.decode("ascii", "replace"):
            raise StoreError(f"{log}: batch {n} fails its checksum; the log is damaged.")
        for op in json.loads(body):
            state.apply(decode_op(op), changes)


def _snapshot_lines(state: GraphState):
    yield SNAPSHOT_HEADER
    yield from dump_state(state)


def _write_atomic(target: Path, lines) -> tuple[int, str]:
    """Write to a temp file, fsync, rename over `target`, fsync the folder. Returns (size, sha256)."""
    tmp = target.with_name(target.name + ".tmp")
    digest, size = hashlib.sha256(), 0
    with open(tmp, "wb") as f:
        for line in lines:
            data = (line + "\n").encode("utf-8")
            digest.update(data)
            size += len(data)
            f.write(data)
        _fsync(f)
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
    return size, digest.hexdigest()


def _read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{file}: named by the manifest but missing; the graph is damaged.") from None


def _fsync(f) -> None:
    f.flush()
    os.fsync(f.fileno())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lock(path: Path) -> int:
    if not path.is_dir():
        raise StoreError(f"no graph at {path} (not a folder); create one with `kqa graph build`.")
    fd = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(f"{path} is locked by another writer (pid {holder}); wait for it to finish.") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
