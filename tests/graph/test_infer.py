"""Inference: each rule with its confidence and derivation pinned; retraction when a premise goes; CLI."""

import json

import pytest
from typer.testing import CliRunner

from kqa.graph import cli
from kqa.graph.builder import import_documents, remove_documents
from kqa.graph.config import InferenceConfig
from kqa.graph.inference import infer
from kqa.graph.model import Document, Triple, triple_id
from kqa.graph.resolve import merge
from kqa.graph.store import GraphStore
from kqa.graph.validate import validate_graph

DOCS = [
    Document("d1", "dog.txt", (Triple("dog", "IsA", "mammal", "s", "x", 0.9),)),
    Document("d2", "mammal.txt", (Triple("mammal", "IsA", "animal", "s", "x", 0.8),)),
    Document("d3", "animal.txt", (Triple("animal", "IsA", "organism", "s", "x", 1.0),
                                  Triple("animal", "CapableOf", "move", "s", "x", 0.7))),
    Document("d4", "parts.txt", (Triple("finger", "PartOf", "hand", "s", "x", 1.0),
                                 Triple("hand", "PartOf", "arm", "s", "x", 1.0),
                                 Triple("big", "Antonym", "small", "s", "x", 1.0),
                                 Triple("dog", "IsA", "organism", "s", "x", 0.5))),  # stated: not re-derived
]
DEPTH2 = InferenceConfig(max_depth=2)
ID = {name: triple_id(*name.split()) for name in ["dog IsA mammal", "mammal IsA animal", "animal IsA organism",
                                                   "animal CapableOf move", "finger PartOf hand", "hand PartOf arm",
                                                   "big Antonym small"]}


def inferred(graph) -> dict:
    with GraphStore.open(graph) as store:
        return {(e.head, e.relation, e.tail): e.supports[0] for e in store.edges()
                if e.supports[0].extractor.startswith("inference:")}


def test_rules_confidence_and_derivation(tmp_path):
    g = tmp_path / "g"
    import_documents(g, DOCS)
    result = infer(g, DEPTH2)
    found = inferred(g)
    assert {k: round(s.confidence, 4) for k, s in found.items()} == {
        ("dog", "IsA", "animal"): round(0.9 * 0.8 * 0.8, 4),  # depth 1
        ("mammal", "IsA", "organism"): round(0.8 * 0.8, 4),
        ("mammal", "CapableOf", "move"): round(0.8 * 0.7 * 0.8, 4),
        ("dog", "CapableOf", "move"): round(0.9 * 0.8 * 0.7 * 0.8 ** 2, 4),  # two IsA steps: depth 2
        ("finger", "PartOf", "arm"): 0.8,
        ("small", "Antonym", "big"): 0.8}  # dog IsA organism is stated, so it is not derived again
    support = found[("dog", "CapableOf", "move")]
    assert support.extractor == "inference:inheritance"
    assert support.sentence == (f"inheritance: {ID['dog IsA mammal']} {ID['mammal IsA animal']} "
                                f"{ID['animal CapableOf move']} (depth 2)")
    assert found[("dog", "IsA", "animal")].extractor == "inference:isa-transitivity"
    assert result.details["inferred_by_rule"] == {"inheritance": 2, "isa-transitivity": 2,
                                                  "partof-transitivity": 1, "symmetry": 1}
    assert len(result.added) == 6
    again = infer(g, DEPTH2)
    assert again.added == again.removed == ()  # same derivations: nothing to commit


def test_depth_and_threshold_bound_the_rules(tmp_path):
    g = tmp_path / "g"
    import_documents(g, DOCS)
    infer(g, InferenceConfig(max_depth=1, min_confidence=0.6))
    assert set(inferred(g)) == {("mammal", "IsA", "organism"), ("finger", "PartOf", "arm"),
                                ("small", "Antonym", "big")}
    with pytest.raises(ValueError, match="max_depth"):
        InferenceConfig(max_depth=0)


def test_removing_a_premise_retracts_what_it_supported(tmp_path):
    g = tmp_path / "g"
    import_documents(g, DOCS)
    infer(g, DEPTH2)
    result = remove_documents(g, ["mammal.txt"])
    gone = {triple_id("dog", "IsA", "animal"), triple_id("mammal", "IsA", "organism"),
            triple_id("mammal", "CapableOf", "move"), triple_id("dog", "CapableOf", "move"), ID["mammal IsA animal"]}
    assert set(result.removed) == gone
    assert set(inferred(g)) == {("finger", "PartOf", "arm"), ("small", "Antonym", "big")}


def test_quarantine_and_merge_retract_too(tmp_path):
    g = tmp_path / "g"
    import_documents(g, DOCS + [Document("d5", "junk.txt", (Triple("it", "IsA", "dog", "s", "x", 0.8),))])
    infer(g)
    assert ("it", "IsA", "mammal") in inferred(g)
    report = validate_graph(g, quarantine=True)
    assert triple_id("it", "IsA", "mammal") in report.removed and ("it", "IsA", "mammal") not in inferred(g)
    result = merge(g, "hand", "palm")  # the premise "finger PartOf hand" now shows as "finger PartOf palm"
    assert triple_id("finger", "PartOf", "arm") in result.removed and ("finger", "PartOf", "arm") not in inferred(g)


def test_cli_infer_then_remove(tmp_path):
    g = tmp_path / "g"
    import_documents(g, DOCS)
    runner = CliRunner()
    out = runner.invoke(cli.app, ["infer", "--graph", str(g), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["inferred_by_rule"]["symmetry"] == 1
    out = runner.invoke(cli.app, ["remove", "parts.txt", "--graph", str(g), "--json"])
    assert triple_id("small", "Antonym", "big") in json.loads(out.stdout)["removed_ids"]
    out = runner.invoke(cli.app, ["infer", "--graph", str(g), "--decay", "0"])
    assert out.exit_code == 2 and "--decay" in out.stderr


def test_steps_can_share_one_open_store(tmp_path):
    g = tmp_path / "g"
    import_documents(g, DOCS)
    with GraphStore.open(g, writable=True) as store:  # a big graph is read once for several steps
        validate_graph(store, quarantine=True)
        result = infer(store, DEPTH2)
        assert result.triples == 6 and store.commit([]) is not None  # still open for writing
    assert len(inferred(g)) == 6
