"""Hypothesis: random add / remove / reopen / compact against a plain in-memory model of the graph."""

import hashlib
import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kqa.graph.model import AddDocument, Document, RemoveName, Triple
from kqa.graph.store import GraphStore

NAMES = st.sampled_from(["a", "b", "c", "d"])
WORDS = ["dog", "cat", "animal", "pet", "tree"]
TRIPLES = st.frozensets(st.tuples(st.sampled_from(WORDS), st.sampled_from(["IsA", "HasA"]), st.sampled_from(WORDS))
                        .filter(lambda t: t[0] != t[2]), max_size=4)


def content_id(triples) -> str:
    return hashlib.sha256(repr(sorted(triples)).encode()).hexdigest()[:12]


class GraphMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.store = GraphStore.open(self.dir, writable=True, create=True, compact_min_bytes=300)
        self.model: dict[str, frozenset] = {}  # document name -> its triples

    @rule(name=NAMES, triples=TRIPLES)
    def add(self, name, triples):
        doc = Document(content_id(triples), name, tuple(Triple(h, r, t, "s", "x", 1.0) for h, r, t in triples))
        self.store.commit([AddDocument(doc)])
        self.model[name] = triples

    @rule(name=NAMES)
    def remove(self, name):
        doc_id = self.store.state.names.get(name)
        if doc_id is not None:
            self.store.commit([RemoveName(doc_id, name)])
        self.model.pop(name, None)

    @rule()
    def reopen(self):
        self.store.close()
        self.store = GraphStore.open(self.dir, writable=True)

    @rule()
    def compact(self):
        self.store.compact()

    @invariant()
    def matches_model(self):
        expected: dict[tuple, set] = {}
        for triples in self.model.values():
            for t in triples:
                expected.setdefault(t, set()).add(content_id(triples))
        found = {(e.head, e.relation, e.tail): {s.source for s in e.supports} for e in self.store.edges()}
        assert found == expected
        assert self.store.vocabulary() == {c for t in expected for c in (t[0], t[2])}
        assert self.store.stats()["documents"] == len({content_id(t) for t in self.model.values()})

    def teardown(self):
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


GraphMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestGraphMachine = GraphMachine.TestCase
