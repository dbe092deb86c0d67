from kqa.graph.store import GraphStore
from kqa.retrieval.paths import PathConfig, PathFinder


def test_direct_two_hop_and_choice_edges_are_scored_in_that_order(graph_dir):
    with GraphStore.open(graph_dir) as store:
        found = PathFinder(store).run(["fish"], ["sea"])
    by_kind = {}
    for s in found:
        by_kind.setdefault(s.kind, set()).add((s.edge.head, s.edge.relation, s.edge.tail))
    assert ("fish", "AtLocation", "sea") in by_kind["direct"]
    assert {("fish", "RelatedTo", "water"), ("water", "AtLocation", "sea")} <= by_kind["two-hop"]  # fish-water-sea
    scores = {s.kind: s.score for s in found}
    assert scores["direct"] > scores["two-hop"]
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_relation_weights_scale_scores(graph_dir):
    with GraphStore.open(graph_dir) as store:
        plain = {s.edge.relation: s.score for s in PathFinder(store).run(["security"], ["bank"]) if s.kind == "direct"}
        heavy = PathFinder(store, PathConfig(relation_weights={"RelatedTo": 2.0}))
        weighted = {s.edge.relation: s.score for s in heavy.run(["security"], ["bank"]) if s.kind == "direct"}
    assert weighted["RelatedTo"] == 4 * plain["RelatedTo"]  # default RelatedTo weight is 0.5


def test_unknown_concepts_give_nothing(graph_dir):
    with GraphStore.open(graph_dir) as store:
        assert PathFinder(store).run(["no such thing"], ["nothing either"]) == []
