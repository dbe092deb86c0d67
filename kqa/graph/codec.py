"""JSON encoding of graph operations (log lines) and graph state (snapshot lines). No pickle: plain JSON only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from kqa.errors import StoreError
from kqa.graph.model import (
    AddDocument,
    Changes,
    ConceptInfo,
    DocRecord,
    Document,
    Merge,
    Operation,
    RemoveName,
    SetStatus,
    Triple,
    Unmerge,
)
from kqa.graph.state import GraphState
from kqa.types import Provenance


def encode_op(op: Operation) -> dict:
    if isinstance(op, AddDocument):
        d = op.document
        return {"op": "add", "id": d.id, "name": d.name,
                "triples": [[t.head, t.relation, t.tail, t.sentence, t.extractor, t.confidence] for t in d.triples],
                "concepts": [[c.name, c.label, c.description] for c in d.concepts],
                **({"sentences": list(d.sentences)} if d.sentences else {})}  # absent: a log line as before
    if isinstance(op, RemoveName):
        return {"op": "unname", "id": op.doc_id, "name": op.name}
    if isinstance(op, Merge):
        return {"op": "merge", "alias": op.alias, "canonical": op.canonical}
    if isinstance(op, Unmerge):
        return {"op": "unmerge", "alias": op.alias}
    return {"op": "status", "edge": op.edge_id, "status": op.status}


def decode_op(data: dict) -> Operation:
    kind = data.get("op")
    if kind == "add":
        triples = tuple(Triple(*t) for t in data["triples"])
        concepts = tuple(ConceptInfo(*c) for c in data["concepts"])
        sentences = tuple(data.get("sentences", ()))  # logs written before sentences were kept have none
        return AddDocument(Document(data["id"], data["name"], triples, concepts, sentences))
    if kind == "unname":
        return RemoveName(data["id"], data["name"])
    if kind == "status":
        return SetStatus(data["edge"], data["status"])
    if kind == "merge":
        return Merge(data["alias"], data["canonical"])
    if kind == "unmerge":
        return Unmerge(data["alias"])
    raise StoreError(f"unknown operation {kind!r} in the graph log; "
                     "valid operations are add, unname, status, merge, unmerge.")


def dump_state(state: GraphState) -> Iterator[str]:
    """Snapshot lines in a canonical order, so equal graphs give byte-identical snapshots."""
    for doc_id in sorted(state.docs):
        record = state.docs[doc_id]
        line = {"doc": doc_id, "names": sorted(record.names)}
        if record.sentences:  # absent when there are none: such a graph's snapshot reads as it did before
            line["sentences"] = list(record.sentences)
        yield json.dumps(line, ensure_ascii=False)
    for alias in sorted(state.alias.aliases):  # before the edges: loading indexes each edge under its aliases
        yield json.dumps({"alias": alias, "canonical": state.alias.aliases[alias]}, ensure_ascii=False)
    for tid in sorted(state.edges):
        e = state.edges[tid]
        supports = sorted([s.source, s.sentence, s.extractor, s.confidence] for s in e.supports)
        yield json.dumps({"edge": tid, "h": e.head, "r": e.relation, "t": e.tail, "s": supports, "st": e.status},
                         ensure_ascii=False)
    for name in sorted(state.concepts):
        notes = state.concepts[name].notes
        if notes:
            yield json.dumps({"concept": name, "notes": {k: list(notes[k]) for k in sorted(notes)}},
                             ensure_ascii=False)


def load_state(lines: Iterable[str]) -> GraphState:
    state = GraphState()
    changes = Changes()  # nothing reads it: loading is not a change
    interned: dict[tuple, Provenance] = {}  # imported edges share one support value: keep one object
    for line in lines:
        rec = json.loads(line)
        if "doc" in rec:
            state.docs[rec["doc"]] = DocRecord(names=set(rec["names"]), sentences=tuple(rec.get("sentences", ())))
            for name in rec["names"]:
                state.names[name] = rec["doc"]
        elif "alias" in rec:
            state.alias.add_alias(rec["alias"], rec["canonical"])
        elif "edge" in rec:
            for s in rec["s"]:
                key = tuple(s)
                support = interned.get(key) or interned.setdefault(key, Provenance(*key))
                state.add_support(rec["edge"], rec["h"], rec["r"], rec["t"], support, changes)
            state.edges[rec["edge"]].status = rec["st"]
        elif "concept" in rec:
            for doc_id, (label, description) in rec["notes"].items():
                state._concept(rec["concept"]).notes[doc_id] = (label, description)
                state.docs[doc_id].concepts.add(rec["concept"])
    return state
