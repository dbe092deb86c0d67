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


class CountingGraph:
    """A store that records every neighbours() call."""

    def __init__(self, store):
        self.store, self.calls = store, []

    def neighbours(self, name, limit=None):
        self.calls.append((name, limit))
        return self.store.neighbours(name, limit=limit)


def test_run_choices_is_run_per_choice_reading_each_concept_once(graph_dir):
    question, choices = ["fish", "water", "live fish"], [["sea"], ["aquarium", "tank"], ["bank"], ["sea"], []]
    with GraphStore.open(graph_dir) as store:
        expected = [PathFinder(store).run(question, c) for c in choices]
        graph = CountingGraph(store)
        assert PathFinder(graph, PathConfig(max_neighbours=7)).run_choices(question, choices) == expected
    assert sorted(graph.calls) == sorted((name, 7) for name in {*question, "sea", "aquarium", "tank", "bank"})


def test_an_edge_past_a_hubs_cap_is_found_on_the_other_concepts_list(tmp_path):
    from kqa.graph.builder import import_documents
    from tests.retrieval.conftest import document

    acts = [f"act{i}" for i in range(30)]  # person's 30 edges: it reads 5 of them, each act its one edge
    crowd = [("crowd", "AtLocation", f"place{i}") for i in range(30)]  # another hub; its edge to person ranks last
    triples = [("person", "CapableOf", a) for a in acts] + crowd + [("person", "UsedFor", "crowd")]
    import_documents(tmp_path / "g", [document("hub", triples)])
    with GraphStore.open(tmp_path / "g") as store:
        found = PathFinder(store, PathConfig(max_neighbours=5)).run_choices(["person"], [[a] for a in acts])
        assert [[(s.edge.tail, s.kind) for s in per] for per in found] == [[(a, "direct")] for a in acts]
        direct = [s for s in PathFinder(store, PathConfig(max_neighbours=5)).run(["person"], ["crowd"])
                  if s.kind == "direct"]
        assert direct == []  # past the cap on both lists: not read
        wider = PathFinder(store, PathConfig(max_neighbours=40)).run(["person"], ["crowd"])
        assert [(s.edge.relation, s.kind) for s in wider if s.kind == "direct"] == [("UsedFor", "direct")]


def test_a_choice_repeating_a_question_concept_gets_no_paths_through_it(graph_dir):
    with GraphStore.open(graph_dir) as store:
        kinds = {s.kind for s in PathFinder(store).run(["fish"], ["fish"])}
        assert kinds == {"choice"}  # the choice's own edges, not each of them again as a two-hop path
        assert {s.edge.tail for s in PathFinder(store).run(["fish"], ["fish", "sea"]) if s.kind == "direct"} == {"sea"}
