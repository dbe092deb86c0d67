"""build / update / remove: hashing, incremental parsing, provenance, bad input, progress and summary."""

import json

import pytest

from kqa.errors import InputError, StoreError
from kqa.graph.builder import GraphBuilder, remove_documents
from kqa.graph.config import GraphConfig
from kqa.graph.corpus import content_id
from kqa.graph.model import triple_id
from kqa.graph.store import GraphStore


def build(parser, corpus, graph, create=False, **config):
    return GraphBuilder(GraphConfig(**config), parser=parser, progress=False).run(corpus, graph, create=create)


def test_build_merges_sources_and_reports_ids(cheap_parser, corpus, tmp_path):
    result = build(cheap_parser, corpus, tmp_path / "g", create=True)
    assert (result.parsed, result.unchanged, result.triples) == (3, 0, 5)
    assert result.added == tuple(sorted(triple_id(h, "IsA", t) for h, t in
                                        [("dog", "animal"), ("cat", "animal"), ("rose", "flower"), ("oak", "tree")]))
    with GraphStore.open(tmp_path / "g") as store:
        edge = store.edge(triple_id("dog", "IsA", "animal"))
        assert sorted(s.source for s in edge.supports) == sorted(
            content_id(p.read_text()) for p in (corpus / "a.txt", corpus / "b.md"))
        assert {s.sentence for s in edge.supports} == {"a dog is an animal."}
        assert store.stats()["documents"] == 3


def test_build_refuses_an_existing_graph(cheap_parser, corpus, tmp_path):
    build(cheap_parser, corpus, tmp_path / "g", create=True)
    with pytest.raises(StoreError, match="already exists"):
        build(cheap_parser, corpus, tmp_path / "g", create=True)


def test_update_parses_only_changed_documents(cheap_parser, corpus, tmp_path):
    graph = tmp_path / "g"
    build(cheap_parser, corpus, graph, create=True)
    manifest = (graph / "manifest.json").read_bytes()
    again = build(cheap_parser, corpus, graph)
    assert (again.parsed, again.unchanged, again.added, again.removed) == (0, 3, (), ())
    assert (graph / "manifest.json").read_bytes() == manifest  # re-running changes nothing at all
    (corpus / "a.txt").write_text("A cat is a pet.")
    (corpus / "d.txt").write_text("A dog is an animal.")
    result = build(cheap_parser, corpus, graph)
    assert (result.parsed, result.unchanged) == (2, 2)
    assert result.added == (triple_id("cat", "IsA", "pet"),)
    assert result.removed == (triple_id("cat", "IsA", "animal"),)  # its only source changed


def test_renamed_copy_is_not_parsed_again(cheap_parser, corpus, tmp_path):
    graph = tmp_path / "g"
    build(cheap_parser, corpus, graph, create=True)
    (corpus / "copy.txt").write_text((corpus / "sub" / "c.txt").read_text())
    result = build(cheap_parser, corpus, graph)
    assert (result.parsed, result.added) == (0, ())
    with GraphStore.open(graph) as store:
        assert store.state.docs[content_id("An oak is a tree.")].names == {"sub/c.txt", "copy.txt"}


def test_remove_by_name_and_id(cheap_parser, corpus, tmp_path):
    graph = tmp_path / "g"
    build(cheap_parser, corpus, graph, create=True)
    result = remove_documents(graph, ["a.txt", content_id("An oak is a tree."), "nope"])
    assert result.removed_documents == 2
    assert set(result.removed) == {triple_id("cat", "IsA", "animal"), triple_id("oak", "IsA", "tree")}
    assert [s.name for s in result.skipped] == ["nope"]
    with GraphStore.open(graph) as store:
        assert len(store.edge(triple_id("dog", "IsA", "animal")).supports) == 1  # b.md still supports it


def test_bad_input_is_skipped_with_a_reason(cheap_parser, corpus, tmp_path):
    (corpus / "empty.txt").write_text("   \n")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (corpus / "latin1.txt").write_bytes("caf\xe9 is a drink.".encode("latin-1"))
    (corpus / "huge.txt").write_text("A dog is an animal. " * 100)
    (corpus / "image.png").write_bytes(b"\x89PNG")  # not a corpus file type: ignored
    result = build(cheap_parser, corpus, tmp_path / "g", create=True, max_doc_bytes=1000)
    reasons = {s.name: s.reason for s in result.skipped}
    assert reasons["empty.txt"] == "empty"
    assert reasons["binary.txt"].startswith("binary")
    assert reasons["latin1.txt"] == "not UTF-8 (byte 0xe9 at offset 3)"
    assert reasons["huge.txt"].startswith("too large (2000 bytes")
    assert result.parsed == 3 and "skipped latin1.txt: not UTF-8" in result.summary()


def test_jsonl_corpus(cheap_parser, tmp_path):
    corpus = tmp_path / "c.jsonl"
    lines = [json.dumps({"id": "x", "text": "A dog is an animal."}), "{broken", json.dumps({"id": 3, "text": ""}),
             json.dumps({"text": "no id"}), "", json.dumps({"id": 4, "text": "An oak is a tree."})]
    corpus.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n")
    result = build(cheap_parser, corpus, tmp_path / "g", create=True)
    assert result.parsed == 2
    assert [s.reason.split(" (")[0] for s in result.skipped] == [
        "not JSON", "empty", "record needs an `id`", "not UTF-8"]


def test_missing_corpus(cheap_parser, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        build(cheap_parser, tmp_path / "nope", tmp_path / "g", create=True)


def test_commit_every_splits_batches(cheap_parser, corpus, tmp_path):
    build(cheap_parser, corpus, tmp_path / "g", create=True, commit_every=1)
    with GraphStore.open(tmp_path / "g") as store:
        assert store.manifest["batches"] == 3


def test_summary_fits_one_screen(cheap_parser, corpus, tmp_path):
    for i in range(30):
        (corpus / f"e{i}.txt").write_text("")
    text = build(cheap_parser, corpus, tmp_path / "g", create=True).summary()
    assert len(text.splitlines()) <= 16 and "and 20 more skipped" in text


def test_real_pipeline_on_sample_corpus(nlp_sm, tmp_path):
    from kqa.graph.engines import LocalParser

    result = build(LocalParser(GraphConfig(), nlp_sm), "data/corpus_small", tmp_path / "g", create=True)
    assert result.parsed == 4 and not result.skipped
    with GraphStore.open(tmp_path / "g") as store:
        assert store.concept("barack obama").label == "PERSON"
        dog = {(e.relation, e.tail): len(e.supports) for e in store.neighbours("dog")}
        assert dog[("IsA", "animal")] == 2
        assert store.edge(triple_id("ice cream", "AtLocation", "freezer")) is not None
