"""`kqa demo` at a tiny size (tiny config-built models, 20 questions), and the WordNet subset it builds its graph from."""

import json
from pathlib import Path

import pytest
import yaml

from kqa.data import question_from_text
from kqa.demo import DemoConfig, run_demo
from kqa.graph.importers import (
    WordNetImporter,
    import_wordnet_vocabulary,
    question_vocabulary,
    select_synsets,
    wordnet_gloss_corpus,
)
from tests.graph.test_importers import mini_wordnet  # noqa: F401  (fixture: WordNet's file format, five synsets)


@pytest.fixture()
def wordnet_folder(request):
    return request.getfixturevalue("mini_wordnet")


def test_question_vocabulary_keeps_content_words_phrases_and_base_forms():
    terms = question_vocabulary([question_from_text("Where would you keep live fishes?", ["fish tank", "oven"])])
    assert {"keep", "live", "fishes", "fish", "fish tank", "oven", "live fishes"} <= terms
    assert not {"where", "would", "you"} & terms  # stop words alone


def test_select_synsets_takes_the_most_frequent_senses_and_follows_outgoing_pointers(wordnet_folder):
    assert select_synsets(["aquarium"], wordnet_folder, hops=0) == {("n", 100)}
    # hypernym (@), holonym (#p) and derivation (+) pointers are followed; a hyponym (~) never is
    assert select_synsets(["aquarium"], wordnet_folder, hops=1) == {("n", 100), ("n", 200), ("n", 300), ("v", 500)}
    assert select_synsets(["tank", "unknown word"], wordnet_folder, hops=1) == {("n", 200)}


def test_a_wordnet_subset_has_only_its_edges_and_is_another_document(wordnet_folder, tmp_path):
    keep = select_synsets(["aquarium", "tank"], wordnet_folder, hops=0)
    subset = WordNetImporter(wordnet_folder, keep).run()
    assert {(t.head, t.relation, t.tail) for t in subset.triples} == {("aquarium", "IsA", "tank"),
                                                                     ("fish tank", "IsA", "tank")}
    assert subset.id != WordNetImporter(wordnet_folder).run().id
    assert [d.name for d in wordnet_gloss_corpus(wordnet_folder, keep=keep)] == ["wn30:n00000100", "wn30:n00000200"]
    first = import_wordnet_vocabulary(tmp_path / "g", ["aquarium"], folder=wordnet_folder, hops=1)
    again = import_wordnet_vocabulary(tmp_path / "g", ["aquarium"], folder=wordnet_folder, hops=1)
    assert len(first.added) == 6 and again.added == () and again.removed == ()  # a rerun changes nothing


def test_cli_import_wordnet_with_a_vocabulary_file(wordnet_folder, tmp_path):
    from typer.testing import CliRunner

    from kqa.cli import app

    words = tmp_path / "words.txt"
    words.write_text("Aquarium\nwet\n", encoding="utf-8")
    base = ["graph", "import", "wordnet", "--data", str(wordnet_folder), "--max-senses", "1"]
    for hops, edges in ((0, 0), (1, 8)):  # no edge between aquarium and wet; one hop reaches tank, zoo, keep, dry
        result = CliRunner().invoke(app, [*base, "--graph", str(tmp_path / f"g{hops}"), "--vocabulary", str(words),
                                          "--hops", str(hops), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["graph"]["edges"] == edges
    missing = CliRunner().invoke(app, [*base, "--graph", str(tmp_path / "h"), "--vocabulary", str(tmp_path / "no.txt")])
    assert missing.exit_code == 2 and "vocabulary file" in missing.output and "no.txt" in missing.output


@pytest.fixture()
def tiny_demo(tmp_path, tiny_llama_dir, minilm_tokenizer) -> DemoConfig:
    from tests.test_adapter_model import save_tiny_bert

    bert = save_tiny_bert(tmp_path / "bert", minilm_tokenizer)
    adapter = {"adapter": {"backbone": str(bert), "top_layers": 1, "width": 16, "heads": 4, "max_fact_tokens": 24},
               "train": {"batch_size": 4, "max_length": 64, "activation_cache": True},
               "retrieval": {"dense_k": 0}}  # graph paths only: no index to embed
    reader = {"model": {"name": str(tiny_llama_dir)}}
    (tmp_path / "adapter.yaml").write_text(yaml.safe_dump(adapter), encoding="utf-8")
    (tmp_path / "reader.yaml").write_text(yaml.safe_dump(reader), encoding="utf-8")
    return DemoConfig(questions=20, epochs=1, graph=str(tmp_path / "graph"), out=str(tmp_path / "out"),
                      adapter_pipeline=str(tmp_path / "adapter.yaml"), reader_pipeline=str(tmp_path / "reader.yaml"),
                      max_senses=1, progress=False)


def _accuracy(folder: str) -> float:
    records = [json.loads(line) for line in (Path(folder) / "predictions.jsonl").read_text().splitlines()]
    return sum(r["correct"] for r in records) / len(records)


@pytest.mark.slow  # spaCy's en_core_web_sm parses the glosses
def test_tiny_demo_evaluates_every_row_on_the_test_split_and_reuses_its_work(tiny_demo):
    first = run_demo(tiny_demo)
    assert first.split == (12, 2, 6) and [r.n for r in first.rows] == [6, 6, 6, 6]
    assert first.rows[0].name.startswith("zero-shot") and all(r.name.startswith("adapter") for r in first.rows[1:])
    for row in first.rows:  # the table is computed from the written predictions, not made up
        assert row.accuracy == pytest.approx(_accuracy(row.out_dir)) and row.ci95[0] <= row.accuracy <= row.ci95[1]
    test_ids = json.loads((Path(tiny_demo.out) / "train" / "split.json").read_text())["test"]
    assert [json.loads(line)["id"] for line in
            (Path(first.rows[1].out_dir) / "predictions.jsonl").read_text().splitlines()] == test_ids
    assert first.graph_counts["edges"] > 0 and "knowledge use (with - control)" in first.table()
    assert json.loads((Path(tiny_demo.out) / "demo.json").read_text())["split"] == [12, 2, 6]

    adapter = Path(tiny_demo.out) / "train" / "adapter" / "adapter.safetensors"
    trained_at = adapter.stat().st_mtime_ns
    second = run_demo(tiny_demo)
    assert adapter.stat().st_mtime_ns == trained_at  # not retrained
    assert second.rows == first.rows
