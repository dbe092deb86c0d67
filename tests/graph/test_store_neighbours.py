"""GraphStore.neighbours ranks a concept's edges once: the same edges in the same order as GraphState's fresh read,
for every limit, forgotten at every commit (add, remove, status, merge, unmerge)."""

import pytest

from kqa.graph import store as store_module
from kqa.graph.model import AddDocument, Document, Merge, RemoveName, SetStatus, Triple, Unmerge, triple_id
from kqa.graph.store import GraphStore

LIMITS = [1, 2, 3, 0, None, 100, -1]


def doc(doc_id, *triples):
    """(head, relation, tail, confidence) tuples as one document."""
    return Document(doc_id, f"{doc_id}.txt",
                    tuple(Triple(h, r, t, f"{h} {r} {t}", "test", c) for h, r, t, c in triples))


HUB = doc("hub", *[("dog", "IsA" if i % 3 else "RelatedTo", f"thing{i}", round(0.1 + (i % 7) / 10, 2))
                   for i in range(40)])  # ties in confidence, then in relation: the id decides
MORE = doc("more", ("dog", "AtLocation", "park", 0.8), ("puppy", "IsA", "dog", 0.95),
           ("puppy", "AtLocation", "park", 0.5), ("hound", "IsA", "animal", 0.6), ("dog", "IsA", "animal", 0.6))
AGAIN = doc("again", ("dog", "AtLocation", "park", 0.99))  # a second, stronger support of an edge


def assert_same_as_uncached(store, names):
    for name in names:
        fresh = store.state.neighbours(name)
        for limit in LIMITS:
            assert store.neighbours(name, limit=limit) == fresh[:limit], (name, limit)
        assert store.neighbours(name) == fresh, name


@pytest.fixture
def store(tmp_path):
    with GraphStore.open(tmp_path / "g", writable=True, create=True) as opened:
        opened.commit([AddDocument(HUB), AddDocument(MORE), AddDocument(AGAIN)])
        yield opened


def test_ranked_neighbours_are_the_uncached_read_for_every_limit(store):
    names = sorted(store.vocabulary()) + ["no such concept"]
    assert_same_as_uncached(store, names)
    assert [e.tail for e in store.neighbours("dog", limit=1)] == ["park"]  # 0.99: its stronger support counts
    assert len(store.neighbours("dog")) == 43


def test_a_full_read_first_then_limits(tmp_path, store):
    with GraphStore.open(store.path) as reader:  # a fresh store: nothing ranked yet
        fresh = reader.state.neighbours("dog")
        assert reader.neighbours("dog") == fresh
        assert [reader.neighbours("dog", limit=n) for n in (5, 1, 43, 50)] == [fresh[:5], fresh[:1], fresh, fresh]


def test_merged_names_and_their_edges_rank_like_the_uncached_read(store):
    store.commit([Merge("puppy", "dog"), Merge("hound", "dog")])  # puppy-IsA-dog hides; dog IsA animal gets 2 raw edges
    assert store.state.alias.groups, "the test needs a merged edge"
    assert_same_as_uncached(store, ["dog", "puppy", "hound", "park", "animal"])
    assert store.neighbours("puppy", limit=3) == store.neighbours("dog", limit=3)


def test_every_commit_forgets_the_ranking(store):
    assert store.neighbours("dog", limit=1)[0].tail == "park"
    store.commit([AddDocument(doc("best", ("dog", "CapableOf", "bark", 1.0)))])
    assert store.neighbours("dog", limit=1)[0].tail == "bark"
    store.commit([RemoveName("best", "best.txt"), RemoveName("again", "again.txt")])
    assert [(e.head, e.tail, e.confidence) for e in store.neighbours("dog", limit=2)] == [("puppy", "dog", 0.95),
                                                                                         ("dog", "park", 0.8)]
    park = triple_id("dog", "AtLocation", "park")
    store.commit([SetStatus(park, "quarantined:test")])
    assert store.neighbours("dog", limit=2)[1].status == "quarantined:test"
    store.commit([Merge("puppy", "dog")])
    assert "puppy" not in {e.head for e in store.neighbours("dog")}
    assert_same_as_uncached(store, ["dog", "puppy", "park"])
    store.commit([Unmerge("puppy")])
    assert "puppy" in {e.head for e in store.neighbours("dog")}
    assert_same_as_uncached(store, ["dog", "puppy", "park"])


def test_a_hub_is_ranked_once_and_its_edges_are_built_once(store, monkeypatch):
    calls = []

    def counting(state, rid):
        calls.append(rid)
        return rank_key(state, rid)

    rank_key = store_module._rank_key
    monkeypatch.setattr(store_module, "_rank_key", counting)
    first = store.neighbours("dog", limit=5)
    assert len(calls) == 43  # one pass over the hub's edges
    again = store.neighbours("dog", limit=5)
    assert len(calls) == 43 and all(a is b for a, b in zip(first, again))  # no new ranking, the same Edge objects
    store.neighbours("dog", limit=3)
    assert len(calls) == 43  # fewer than ranked: the best 5 are known
    store.neighbours("dog", limit=10)
    assert len(calls) == 86  # more than ranked: ranked again, now the best 10
    store.neighbours("dog")
    store.neighbours("dog", limit=20)
    assert len(calls) == 129  # once fully sorted, every limit is a slice
