"""Validation: each check on a hand-built graph, quarantine keeps the edge but hides it, restore, CLI."""

import json

import pytest
from typer.testing import CliRunner

from kqa.errors import InputError
from kqa.graph import cli
from kqa.graph.builder import import_documents
from kqa.graph.config import ValidationConfig
from kqa.graph.model import ACTIVE, ConceptInfo, Document, Triple, triple_id
from kqa.graph.store import GraphStore
from kqa.graph.validate import concept_problem, restore, validate_graph
from kqa.retrieval.facts import retrievable

WN = "wordnet-3.0"
EXPECTED = {  # edge -> the reason it is flagged for
    ("rock", "IsA", "rock"): "self-loop",
    ("hot", "IsA", "cold"): "contradiction",  # 0.6 against a WordNet antonym (1.0)
    ("gamma", "IsA", "alpha"): "isa-cycle",  # the weakest edge of alpha -> beta -> gamma -> alpha
    ("it", "IsA", "animal"): "pronoun",
    ("dog", "HasA", "which"): "pronoun",
    ("dog", "UsedFor", "because"): "stop-word",
    ("3", "PartOf", "team"): "number",
    ("-ing", "IsA", "suffix"): "fragment",
    ("dog", "like", "bone"): "low-confidence",
}


def graph_docs():
    weak = {("hot", "cold"): 0.6, ("gamma", "alpha"): 0.7}
    text = [Triple(h, r, t, "s", "spacy", weak.get((h, t), 0.8)) for h, r, t in EXPECTED if r != "like"]
    text += [Triple("dog", "like", "bone", "s", "spacy", 0.3), Triple("alpha", "IsA", "beta", "s", "spacy", 0.9),
             Triple("beta", "IsA", "gamma", "s", "spacy", 0.8), Triple("dog", "IsA", "animal", "s", "spacy", 0.8)]
    wordnet = (Triple("hot", "Antonym", "cold", "", WN, 1.0), Triple("he", "IsA", "element", "", WN, 1.0),
               Triple("bank", "IsA", "slope", "", WN, 1.0), Triple("slope", "IsA", "bank", "", WN, 1.0))
    return [Document("t", "text.txt", tuple(text)),
            Document("w", WN, wordnet, (ConceptInfo("lonely", "", "sad from being alone"),))]


def test_validate_finds_each_problem_and_quarantine_hides_without_losing(tmp_path):
    g = tmp_path / "g"
    import_documents(g, graph_docs())
    dry = validate_graph(g)
    assert dry.flagged == {"self-loop": 1, "contradiction": 1, "isa-cycle": 1, "pronoun": 2, "stop-word": 1,
                           "number": 1, "fragment": 1, "low-confidence": 1}
    found = {(e["head"], e["relation"], e["tail"]): reason for reason, es in dry.examples.items() for e in es}
    assert found == EXPECTED  # "he IsA element" is WordNet (trusted); the rest of the cycle and dog IsA animal are fine
    assert dry.trusted_conflicts == 1  # the WordNet-only cycle bank -> slope -> bank is left alone
    assert dry.isolated_concepts == 1 and dry.isolated_examples == ["lonely"]
    assert dry.removed == () and all(e.status == ACTIVE for e in GraphStore.open(g).edges())

    report = validate_graph(g, quarantine=True)
    assert set(report.removed) == {triple_id(*t) for t in EXPECTED}
    with GraphStore.open(g) as store:
        assert store.stats()["edges"] == 16  # nothing lost
        assert store.edge(triple_id("gamma", "IsA", "alpha")).status == "quarantined:isa-cycle"
        ids, _ = retrievable(store.edges())
        assert not set(ids) & set(report.removed) and len(ids) == 16 - len(EXPECTED)
    again = validate_graph(g, quarantine=True)
    assert again.flagged == {} and again.already_quarantined == len(EXPECTED) and again.removed == ()


def test_restore_by_reason_and_by_id(tmp_path):
    g = tmp_path / "g"
    import_documents(g, graph_docs())
    validate_graph(g, quarantine=True)
    result = restore(g, reason="pronoun")
    assert set(result.added) == {triple_id("it", "IsA", "animal"), triple_id("dog", "HasA", "which")}
    loop = triple_id("rock", "IsA", "rock")
    result = restore(g, ids=[loop, "0000000000000000"])
    assert result.added == (loop,) and result.skipped[0].name == "0000000000000000"
    assert restore(g, reason="all").details == {"restored": len(EXPECTED) - 3}
    with pytest.raises(InputError, match="Valid reasons are"):
        restore(g, reason="junk")


def test_thresholds_and_support_counts(tmp_path):
    g = tmp_path / "g"
    second = Document("u", "u.txt", (Triple("dog", "IsA", "animal", "s2", "spacy", 0.8),))
    import_documents(g, graph_docs() + [second])
    report = validate_graph(g, ValidationConfig(min_confidence=0.0, min_supports=2))
    assert "low-confidence" not in report.flagged
    flagged = {(e["head"], e["tail"]) for e in report.examples["low-support"]}
    assert ("dog", "animal") not in flagged and ("alpha", "beta") in flagged and ("dog", "bone") in flagged


@pytest.mark.parametrize("name, problem", [
    ("it", "pronoun"), ("they", "pronoun"), ("the", "stop-word"), ("of which", "stop-word"), ("42", "number"),
    ("1990s", "number"), ("two hundred", "number"), ("x", "fragment"), ("-ing", "fragment"), ("(a bit", "fragment"),
    ("dog", None), ("move", None), ("side", None), ("ice cream", None), ("b-52", None), ("vitamin c", None),
    ("go", None), ("top shelf", None),  # the concept key's stop words: what a question links to
    ("go out", None), ("not", "stop-word"), ("not much", "stop-word"), ("up down", "stop-word"),
    ("after two", "stop-word"), ("many people", None),  # words that are no concept alone
    ("ça", None), ("日本", None), ("é", "fragment")])  # letters of any script count
def test_concept_problem(name, problem):
    assert concept_problem(name) == problem


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="min_confidence"):
        ValidationConfig(min_confidence=1.5)


def test_cli_validate_quarantine_restore(tmp_path):
    g = tmp_path / "g"
    import_documents(g, graph_docs())
    runner = CliRunner()
    out = runner.invoke(cli.app, ["validate", "--graph", str(g), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["flagged_total"] == len(EXPECTED)
    out = runner.invoke(cli.app, ["validate", "--graph", str(g), "--quarantine"])
    assert out.exit_code == 0 and "quarantined: 9" in out.stdout and "isa-cycle" in out.stdout
    out = runner.invoke(cli.app, ["restore", "--graph", str(g), "--reason", "all", "--json"])
    assert json.loads(out.stdout)["edges_added"] == len(EXPECTED)
    out = runner.invoke(cli.app, ["validate", "--graph", str(g), "--min-confidence", "2"])
    assert out.exit_code == 2 and "--min-confidence" in out.stderr
