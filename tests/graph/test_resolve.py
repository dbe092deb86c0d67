"""Entity resolution: merges as an alias view over raw edges, exact unmerge, guards, CLI."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kqa.errors import InputError
from kqa.graph import cli
from kqa.graph.builder import import_documents, remove_documents
from kqa.graph.codec import decode_op, dump_state, encode_op
from kqa.graph.config import ResolutionConfig
from kqa.graph.model import ConceptInfo, Document, Merge, Triple, Unmerge, triple_id
from kqa.graph.resolve import merge, resolve_entities, singular_key, unmerge
from kqa.graph.store import GraphStore

WN = "wordnet-3.0"
CARS = Document("d1", "cars.txt", (
    Triple("car", "IsA", "vehicle", "s1", "x", 0.8), Triple("automobile", "IsA", "vehicle", "s2", "x", 0.9),
    Triple("automobile", "HasA", "wheel", "s3", "x", 0.7), Triple("car", "RelatedTo", "automobile", "s4", "x", 0.5)))
LATER = Document("d2", "later.txt", (Triple("automobile", "AtLocation", "garage", "s5", "x", 0.6),))


def edges(graph):
    with GraphStore.open(graph) as store:
        return {(e.id, e.head, e.relation, e.tail, e.status, frozenset(e.supports)) for e in store.edges()}


def snapshot(graph):
    with GraphStore.open(graph) as store:
        return list(dump_state(store.state)), store.stats()


def test_merge_shows_alias_edges_under_the_canonical_name(tmp_path):
    g = tmp_path / "g"
    import_documents(g, [CARS])
    result = merge(g, "Automobile", "car")
    assert set(result.removed) == {triple_id("automobile", "IsA", "vehicle"), triple_id("automobile", "HasA", "wheel"),
                                   triple_id("car", "RelatedTo", "automobile")}
    assert set(result.added) == {triple_id("car", "HasA", "wheel")}  # car IsA vehicle existed; the loop is hidden
    with GraphStore.open(g) as store:
        isa = store.edge(triple_id("car", "IsA", "vehicle"))
        assert {s.sentence for s in isa.supports} == {"s1", "s2"} and isa.confidence == 0.9
        assert store.edge(triple_id("automobile", "IsA", "vehicle")) is None
        assert store.vocabulary() == {"car", "vehicle", "wheel"}
        assert store.concept("automobile").name == "car" and store.concept("car").aliases == ("automobile",)
        assert store.stats() == {"nodes": 3, "edges": 2, "documents": 1, "relations": {"HasA": 1, "IsA": 1},
                                 "aliases": 1}
        assert [e.tail for e in store.neighbours("automobile")] == ["vehicle", "wheel"]


def test_merge_then_unmerge_is_the_original_graph_even_after_an_update(tmp_path):
    plain, merged = tmp_path / "plain", tmp_path / "merged"
    import_documents(plain, [CARS, LATER])
    import_documents(merged, [CARS])
    merge(merged, "automobile", "car")
    result = import_documents(merged, [LATER])  # the merge applies to documents added later
    assert result.added == (triple_id("car", "AtLocation", "garage"),)
    with GraphStore.open(merged, writable=True) as store:
        store.compact()  # the alias table goes through a snapshot too
    unmerge(merged, "automobile")
    assert edges(merged) == edges(plain)
    assert snapshot(merged) == snapshot(plain)


def test_chained_merges_resolve_and_unmerge_one_link(tmp_path):
    g = tmp_path / "g"
    import_documents(g, [CARS, Document("d3", "m", (Triple("motorcar", "IsA", "machine", "s", "x", 1.0),))])
    merge(g, "automobile", "car")
    merge(g, "car", "motorcar")
    with GraphStore.open(g) as store:
        assert store.resolve("automobile") == "motorcar"
        assert {e.tail for e in store.neighbours("motorcar")} == {"vehicle", "wheel", "machine"}
    unmerge(g, "car")
    with GraphStore.open(g) as store:
        assert store.resolve("automobile") == "car" and store.resolve("car") == "car"
    with pytest.raises(InputError, match="not a merged name"):
        unmerge(g, "wheel")


def test_remove_a_document_under_a_merge(tmp_path):
    g = tmp_path / "g"
    import_documents(g, [CARS, LATER])
    merge(g, "automobile", "car")
    result = remove_documents(g, ["later.txt"])
    assert result.removed == (triple_id("car", "AtLocation", "garage"),)
    result = remove_documents(g, ["cars.txt"])
    assert set(result.removed) == {triple_id("car", "IsA", "vehicle"), triple_id("car", "HasA", "wheel")}
    assert snapshot(g)[1]["edges"] == 0


def test_merge_ops_round_trip_through_the_codec():
    for op in (Merge("automobile", "car"), Unmerge("automobile")):
        assert decode_op(encode_op(op)) == op


def wordnet_doc():
    gloss = "a motor vehicle with four wheels"
    return Document("wn", WN, (
        Triple("car", "IsA", "motor vehicle", "", WN, 1.0), Triple("automobile", "IsA", "motor vehicle", "", WN, 1.0),
        Triple("truck", "IsA", "motor vehicle", "", WN, 1.0), Triple("hot", "Antonym", "cold", "", WN, 1.0),
        Triple("glass", "IsA", "material", "", WN, 1.0), Triple("glasses", "IsA", "optical instrument", "", WN, 1.0)),
        (ConceptInfo("car", "", gloss), ConceptInfo("automobile", "", gloss),
         ConceptInfo("truck", "", "an automotive vehicle for hauling"), ConceptInfo("glass", "", "a brittle solid"),
         ConceptInfo("glasses", "", "optical instrument worn in front of the eyes")))


def text_doc():
    return Document("t", "text.txt", (
        Triple("dogs", "AtLocation", "kennel", "Dogs sleep in a kennel.", "spacy", 0.6),
        Triple("dog", "CapableOf", "bark", "A dog can bark.", "spacy", 0.7),
        Triple("ice-cream", "IsA", "dessert", "s", "spacy", 0.8), Triple("ice cream", "HasProperty", "cold", "s",
                                                                         "spacy", 0.6),
        Triple("hot", "HasProperty", "warm", "s", "spacy", 0.6)))


class FakeEmbedder:
    """Equal vectors for names that should look alike: hot/cold (antonyms) and kennel/doghouse."""

    GROUPS = [{"hot", "cold"}, {"kennel", "doghouse"}]

    def __init__(self, name, batch_size=256):
        pass

    def encode(self, texts, progress=False):
        out = np.zeros((len(texts), len(texts) + 2), dtype=np.float32)  # one-hot: other names are orthogonal
        for i, t in enumerate(texts):
            out[i, next((k for k, g in enumerate(self.GROUPS) if t in g), 2 + i)] = 1.0
        return out


def test_resolve_entities_merges_by_wordnet_morphology_and_embedding_with_guards(tmp_path, monkeypatch):
    import kqa.retrieval.index

    monkeypatch.setattr(kqa.retrieval.index, "Embedder", FakeEmbedder)
    g = tmp_path / "g"
    kennel = Document("k", "k.txt", (Triple("doghouse", "PartOf", "yard", "s", "spacy", 0.8),))
    import_documents(g, [wordnet_doc(), text_doc(), kennel])
    report = resolve_entities(g, ResolutionConfig(threshold=0.99))
    found = {(m["alias"], m["canonical"], m["method"]) for m in report.merges}
    assert found == {("automobile", "car", "wordnet"), ("dogs", "dog", "morphology"),
                     ("ice-cream", "ice cream", "morphology"), ("doghouse", "kennel", "embedding")}
    assert report.rejected == {"wordnet-distinct": 1, "antonym": 1}  # glass/glasses; hot/cold
    with GraphStore.open(g) as store:
        assert {e.relation for e in store.neighbours("dog")} == {"AtLocation", "CapableOf"}
    again = resolve_entities(g, ResolutionConfig(threshold=0.99))
    assert again.merges == [] and again.added == again.removed == ()


def test_co_hyponyms_are_not_merged_unless_synonyms(tmp_path):
    g = tmp_path / "g"
    import_documents(g, [Document("x", "x", (Triple("cats", "IsA", "pet", "s", "x", 1.0),
                                             Triple("cat", "IsA", "pet", "s", "x", 1.0)))])
    report = resolve_entities(g, ResolutionConfig(embedding=False))
    assert report.merges == [] and report.rejected == {"co-hyponym": 1}


def test_singular_key():
    assert [singular_key(w) for w in ["dogs", "ice-cream cones", "berries", "boxes", "glass", "bus", "is"]] == [
        "dog", "ice cream cone", "berry", "box", "glass", "bus", "is"]


def test_resolution_config_errors_name_the_field():
    with pytest.raises(ValueError, match="threshold"):
        ResolutionConfig(threshold=1.5)
    with pytest.raises(ValueError, match="extra_forbidden"):
        ResolutionConfig(treshold=0.5)


def test_cli_resolve_and_unmerge(tmp_path):
    g = tmp_path / "g"
    import_documents(g, [wordnet_doc(), text_doc()])
    runner = CliRunner()
    out = runner.invoke(cli.app, ["resolve", "--graph", str(g), "--no-embedding", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["by_method"] == {"wordnet": 1, "morphology": 2}
    out = runner.invoke(cli.app, ["unmerge", "dogs", "--graph", str(g), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["added_ids"] == [triple_id("dogs", "AtLocation", "kennel")]
    out = runner.invoke(cli.app, ["unmerge", "dogs", "--graph", str(g)])
    assert out.exit_code == 2 and "not a merged name" in out.stderr
    out = runner.invoke(cli.app, ["resolve", "--graph", str(g), "--threshold", "3"])
    assert out.exit_code == 2 and "--threshold" in out.stderr


def test_unmerge_reports_an_edge_that_two_raw_edges_bring_back(tmp_path):
    """Regression (found by the state machine): both raw edges of a group are re-shown by one unmerge."""
    from kqa.graph.model import AddDocument

    with GraphStore.open(tmp_path / "g", writable=True, create=True) as store:
        store.commit([Merge("dog", "tree"), AddDocument(Document("a", "a", (Triple("cat", "IsA", "tree"),))),
                      Merge("cat", "dog"), AddDocument(Document("b", "b", (Triple("cat", "IsA", "dog"),)))])
        assert list(store.edges()) == []  # both are cat/dog -> tree: hidden self-loops
        changes = store.commit([Unmerge("cat")])
        assert changes.added == {triple_id("cat", "IsA", "tree")} and changes.removed == set()
        assert [e.id for e in store.edges()] == [triple_id("cat", "IsA", "tree")]


def test_removing_a_document_with_a_self_loop_drops_its_concept_once(tmp_path):
    g = tmp_path / "g"
    loop = Document("d9", "loop.txt", (Triple("rock", "IsA", "rock", "s9", "x", 0.5),))
    import_documents(g, [CARS, loop])
    remove_documents(g, ["d9"])
    with GraphStore.open(g) as store:
        assert store.concept("rock") is None and "car" in store.vocabulary()
