"""Hypothesis: random add / remove / merge / unmerge / reopen / compact against a plain in-memory model of the graph."""

import hashlib
import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kqa.graph.model import AddDocument, Document, Merge, RemoveName, Triple, Unmerge
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
        self.aliases: dict[str, str] = {}  # alias -> the name it was merged into

    def resolve(self, name):
        while name in self.aliases:
            name = self.aliases[name]
        return name

    @rule(name=NAMES, triples=TRIPLES)
    def add(self, name, triples):
        doc = Document(content_id(triples), name, tuple(Triple(h, r, t, "s", "x", 1.0) for h, r, t in triples))
        self.commit_and_check([AddDocument(doc)])
        self.model[name] = triples

    @rule(name=NAMES)
    def remove(self, name):
        doc_id = self.store.state.names.get(name)
        if doc_id is not None:
            self.commit_and_check([RemoveName(doc_id, name)])
        self.model.pop(name, None)

    @rule(alias=st.sampled_from(WORDS), canonical=st.sampled_from(WORDS))
    def merge(self, alias, canonical):
        self.commit_and_check([Merge(alias, canonical)])
        if alias not in self.aliases and alias != canonical and self.resolve(canonical) != alias:
            self.aliases[alias] = canonical

    @rule(alias=st.sampled_from(WORDS))
    def unmerge(self, alias):
        self.commit_and_check([Unmerge(alias)])
        self.aliases.pop(alias, None)

    def commit_and_check(self, ops):
        """The reported changes are exactly the edge ids that appeared and disappeared (what an index syncs)."""
        before = {e.id for e in self.store.edges()}
        changes = self.store.commit(ops)
        after = {e.id for e in self.store.edges()}
        assert (changes.added, changes.removed) == (after - before, before - after)

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
            for h, r, t in triples:
                if self.resolve(h) != self.resolve(t):  # a merge hides the edges it would turn into self-loops
                    expected.setdefault((self.resolve(h), r, self.resolve(t)), set()).add(content_id(triples))
        found = {(e.head, e.relation, e.tail): {s.source for s in e.supports} for e in self.store.edges()}
        assert found == expected
        concepts = {c for triples in self.model.values() for t in triples for c in (t[0], t[2])}
        assert self.store.vocabulary() == {self.resolve(c) for c in concepts}
        assert self.store.stats()["edges"] == len(expected)
        assert self.store.stats()["documents"] == len({content_id(t) for t in self.model.values()})

    @invariant()
    def neighbours_match_an_uncached_read(self):
        """The store keeps each concept's ranking across calls; after any change it is GraphState's fresh one."""
        for word in WORDS:
            fresh = self.store.state.neighbours(word)
            assert self.store.neighbours(word, limit=1) == fresh[:1]
            assert self.store.neighbours(word) == fresh

    def teardown(self):
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


GraphMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestGraphMachine = GraphMachine.TestCase
