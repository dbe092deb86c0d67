"""Rule-based inference: derived edges live in one document, `inference`, recomputed as a whole.

Rules (over active edges with at least one non-inferred support, the *base*; inferred edges are never premises):
  transitivity   X r Y, Y r Z (… up to 1 + max_depth edges) => X r Z             r in `transitive` (IsA, PartOf)
  inheritance    X IsA Y (… up to max_depth IsA edges), Y p Z => X p Z          p in `inherited` (CapableOf, …)
  symmetry       X r Y => Y r X                                                 r in `symmetric` (Antonym, …)
Depth = rule steps (edges in the chain - 1; 1 for symmetry). Confidence = product of the premises' confidences times
decay**depth. A derivation is stored in its support: extractor "inference:<rule>", sentence "<rule>: <premise ids>
(depth d)". When a premise disappears or is quarantined (`graph remove`, `update`, `validate --quarantine`, a merge),
`stale_inference_ops` rewrites the document without the edges it supported; `kqa graph infer` derives afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from kqa.graph.config import InferenceConfig
from kqa.graph.indexes import BESIDE, IndexSync, keep_in_step
from kqa.graph.model import ACTIVE, AddDocument, Changes, Document, Edge, Operation, RemoveName, Triple
from kqa.graph.state import GraphState
from kqa.graph.store import GraphStore
from kqa.graph.update import UpdateResult, open_graph

INFERENCE_DOC = "inference"
PREFIX = "inference:"
PREMISE = re.compile(r"\b[0-9a-f]{16}\b")


@dataclass(frozen=True)
class Derivation:
    head: str
    relation: str
    tail: str
    rule: str
    premises: tuple[str, ...]  # triple ids, in chain order
    depth: int
    confidence: float

    def triple(self) -> Triple:
        sentence = f"{self.rule}: {' '.join(self.premises)} (depth {self.depth})"
        return Triple(self.head, self.relation, self.tail, sentence, PREFIX + self.rule, round(self.confidence, 6))


def is_inferred(edge: Edge) -> bool:
    """Every support of the edge comes from inference."""
    return all(s.extractor.startswith(PREFIX) for s in edge.supports)


def base_edges(state: GraphState) -> list[tuple[Edge, float]]:
    """Active edges with a stated (not inferred) support, with the confidence of those supports."""
    out = []
    for edge in state.iter_edges():
        stated = [s.confidence for s in edge.supports if not s.extractor.startswith(PREFIX)]
        if stated and edge.status == ACTIVE:
            out.append((edge, max(stated)))
    return out


def derive(state: GraphState, config: InferenceConfig) -> list[Derivation]:
    """Every derivation of the rules over the base, the most confident one per triple, in a stable order."""
    base = base_edges(state)
    known = {(e.head, e.relation, e.tail) for e, _ in base}
    out: dict[tuple, Derivation] = {}
    by_rel: dict[str, dict[str, list[tuple[str, str, float]]]] = defaultdict(lambda: defaultdict(list))
    for e, conf in base:
        by_rel[e.relation][e.head].append((e.tail, e.id, conf))
    for rel in config.transitive:
        for d in _transitive(by_rel.get(rel, {}), rel, config):
            _keep(out, known, d)
    for d in _inherited(by_rel, config):
        _keep(out, known, d)
    for rel in config.symmetric:
        for head, outs in by_rel.get(rel, {}).items():
            for tail, tid, conf in outs:
                _keep(out, known, Derivation(tail, rel, head, "symmetry", (tid,), 1, conf * config.decay))
    return [d for d in sorted(out.values(), key=lambda d: (d.head, d.relation, d.tail))
            if d.confidence >= config.min_confidence]


def _keep(out: dict, known: set, d: Derivation) -> None:
    key = (d.head, d.relation, d.tail)
    if d.head == d.tail or key in known:
        return
    old = out.get(key)
    if old is None or (-d.confidence, d.depth, d.premises) < (-old.confidence, old.depth, old.premises):
        out[key] = d


def _chains(adjacency: dict, start: str, max_edges: int):
    """Paths from `start` of 1..max_edges edges without repeated nodes: (end, edge ids, product of confidences)."""
    stack = [(start, (), 1.0, (start,))]
    while stack:
        node, ids, conf, seen = stack.pop()
        if len(ids) == max_edges:
            continue
        for tail, tid, c in adjacency.get(node, ()):
            if tail not in seen:
                chain = (tail, ids + (tid,), conf * c, seen + (tail,))
                yield chain[:3]
                stack.append(chain)


def _transitive(adjacency: dict, rel: str, config: InferenceConfig):
    rule = f"{rel.lower()}-transitivity"
    for head in list(adjacency):
        for tail, ids, conf in _chains(adjacency, head, config.max_depth + 1):
            if len(ids) >= 2:
                depth = len(ids) - 1
                yield Derivation(head, rel, tail, rule, ids, depth, conf * config.decay ** depth)


def _inherited(by_rel: dict, config: InferenceConfig):
    isa = by_rel.get("IsA", {})
    children = Counter(tail for outs in isa.values() for tail, _, _ in outs)
    props = {rel: by_rel.get(rel, {}) for rel in config.inherited}
    for head in list(isa):
        for parent, ids, conf in _chains(isa, head, config.max_depth):
            if children[parent] > config.max_children:
                continue
            for rel, table in props.items():
                for tail, tid, c in table.get(parent, ()):
                    depth = len(ids)
                    yield Derivation(head, rel, tail, "inheritance", ids + (tid,), depth,
                                     conf * c * config.decay ** depth)


def inference_document(triples: tuple[Triple, ...]) -> Document:
    """The inference document; its id is the hash of its content, like any document's."""
    body = json.dumps([[t.head, t.relation, t.tail, t.sentence, t.confidence] for t in triples])
    return Document(hashlib.sha256(body.encode()).hexdigest()[:24], INFERENCE_DOC, triples)


def replace_ops(state: GraphState, doc: Document) -> list[Operation]:
    """Operations that make `doc` the inference document (none when it already is)."""
    current = state.names.get(INFERENCE_DOC)
    if not doc.triples:
        return [RemoveName(current, INFERENCE_DOC)] if current else []
    return [] if current == doc.id else [AddDocument(doc)]


def stale_inference_ops(state: GraphState) -> list[Operation]:
    """Drop inferred edges whose premises are gone, quarantined or no longer stated."""
    doc_id = state.names.get(INFERENCE_DOC)
    if doc_id is None:
        return []
    triples, stale, verdicts = [], 0, {}  # premises are shared by many inferred edges: judge each once
    for tid in sorted(state.docs[doc_id].edges):
        record = state.edges[tid]
        for s in record.supports:
            if s.source != doc_id:
                continue
            premises = PREMISE.findall(s.sentence.partition(":")[2])
            if all(verdicts[p] if p in verdicts else verdicts.setdefault(p, _is_premise(state, p)) for p in premises):
                triples.append(Triple(record.head, record.relation, record.tail, s.sentence, s.extractor,
                                      s.confidence))
            else:
                stale += 1
    return replace_ops(state, inference_document(tuple(triples))) if stale else []


def retract_stale_inferences(store: GraphStore, after: Changes | None = None) -> Changes:
    """After a change, drop inferred edges that lost a premise.

    `after`: the changes just made; premises only go when edges go (removal, quarantine, merge), so a change that
    removed nothing needs no scan. None: scan anyway."""
    if after is not None and not after.removed:
        return Changes()
    return store.commit(stale_inference_ops(store.state))


def _is_premise(state: GraphState, tid: str) -> bool:
    edge = state.edge(tid)
    return (edge is not None and edge.status == ACTIVE
            and any(not s.extractor.startswith(PREFIX) for s in edge.supports))


def infer(graph: str | Path | GraphStore, config: InferenceConfig = InferenceConfig(), *,
          index: IndexSync | None = BESIDE) -> UpdateResult:
    """Derive every rule consequence of the graph and commit the difference to the previous inference run.
    `index`: keeps the indexes beside the graph in step (kqa.graph.indexes)."""
    start = time.perf_counter()
    with open_graph(graph) as store:
        derivations = derive(store.state, config)
        doc = inference_document(tuple(d.triple() for d in derivations))
        changes = store.commit(replace_ops(store.state, doc))
        counts = store.state.counts()
    rules = Counter(d.rule for d in derivations)
    keep_in_step(graph, index, sorted(changes.added), sorted(changes.removed))
    return UpdateResult(added=tuple(sorted(changes.added)), removed=tuple(sorted(changes.removed)),
                        triples=len(derivations), seconds=time.perf_counter() - start, counts=counts,
                        details={"inferred_by_rule": dict(sorted(rules.items()))})
