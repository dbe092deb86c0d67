"""`kqa demo` at a tiny size (tiny config-built models, 20 questions), and the WordNet subset it builds its graph from."""

import gzip
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kqa.cli import app
from kqa.data import question_from_text
from kqa.demo import READER_NAMES, DemoConfig, DemoResult, DemoRow, run_demo
from kqa.evaluation.results import PairedStats
from kqa.graph.importers import (
    WordNetImporter,
    import_wordnet_vocabulary,
    question_vocabulary,
    select_synsets,
    wordnet_gloss_corpus,
)
from kqa.graph.store import GraphStore
from kqa.models import cpu_kernels
from tests.graph.test_importers import mini_wordnet  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def wordnet_folder(request):
    return request.getfixturevalue("mini_wordnet")


def test_question_vocabulary_keeps_content_words_phrases_and_base_forms():
    terms = question_vocabulary([question_from_text("Where would you keep live fishes?", ["fish tank", "oven"])])
    assert {"keep", "live", "fishes", "fish", "fish tank", "oven", "live fishes"} <= terms
    assert not {"where", "would", "you"} & terms  # stop words alone
    assert "café" in question_vocabulary([question_from_text("Where is the café?", ["bar", "car"])])


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


def tiny_conceptnet4(path: Path, questions) -> Path:
    """A ConceptNet 4 file in its own format: each question's concept AtLocation its gold answer and one distractor."""
    lines = []
    for q in questions:
        for choice in q.choices[:2] if q.choices[0].label == q.answer else (q.choices[0], *[c for c in q.choices
                                                                                          if c.label == q.answer]):
            lines.append(f"{q.concept}\t{choice.text}\t{{'freq': 5, 'score': 1, 'rel': u'AtLocation'}}\n")
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(lines)
    return path


@pytest.fixture()
def tiny_demo(tmp_path, minilm_tokenizer) -> DemoConfig:
    from kqa.data import load_questions
    from tests.test_adapter_model import save_tiny_bert

    bert = save_tiny_bert(tmp_path / "bert", minilm_tokenizer)
    pipeline = yaml.safe_load((ROOT / "pipelines" / "encoder-facts.yaml").read_text(encoding="utf-8"))
    pipeline["adapter"].update({"backbone": str(bert), "top_layers": 1})
    pipeline["train"].update({"batch_size": 4, "max_length": 64, "epochs": 1})
    (tmp_path / "adapter.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    cn4 = tiny_conceptnet4(tmp_path / "cn4.graph.gz", load_questions("csqa:validation", limit=20).questions)
    return DemoConfig(questions=20, graph=str(tmp_path / "graph"), out=str(tmp_path / "out"),
                      adapter_pipeline=str(tmp_path / "adapter.yaml"), conceptnet4_file=str(cn4), progress=False)


@pytest.mark.slow  # spaCy links 20 questions; three tiny readers train
def test_tiny_demo_trains_three_readers_on_one_split_and_reuses_its_work(tiny_demo):
    first = run_demo(tiny_demo)
    assert first.split == (14, 0, 6) and [r.n for r in first.rows] == [6] * 3
    assert [r.name for r in first.rows[:3]] == [READER_NAMES[n] for n in ("without", "facts", "control")]
    lift = json.loads((Path(tiny_demo.out) / "lift" / "lift.json").read_text())
    for row, stored in zip(first.rows, lift["readers"]):  # the table is the stored test result, not made up
        assert row.accuracy == pytest.approx(sum(stored["correct"]) / len(stored["correct"]))
        assert row.ci95[0] <= row.accuracy <= row.ci95[1]
    test_ids = json.loads((Path(tiny_demo.out) / "lift" / "facts" / "split.json").read_text())["test"]
    assert list(lift["test_ids"]) == test_ids and first.graph_counts["edges"] > 0
    compare = json.loads((Path(tiny_demo.out) / "compare" / "compare.json").read_text())
    assert [(p["a"], p["b"]) for p in compare["pairs"]] == [("with", "without"), ("with", "control")]
    assert compare["pairs"][1]["difference"] == pytest.approx(first.knowledge_effect.difference)
    assert "knowledge lift, facts reader over the control reader" in first.table()
    assert first.kernels == cpu_kernels() and first.kernels in first.table()  # the kernels that trained them

    adapter = Path(tiny_demo.out) / "lift" / "facts" / "adapter" / "adapter.safetensors"
    trained_at = adapter.stat().st_mtime_ns
    second = run_demo(tiny_demo)
    assert adapter.stat().st_mtime_ns == trained_at  # not retrained
    assert second.rows == first.rows


def demo_result(without_p: float) -> DemoResult:
    rows = tuple(DemoRow(READER_NAMES[name], 150, accuracy, (accuracy - 0.08, accuracy + 0.08), f"out/{name}")
                 for name, accuracy in (("without", 0.31), ("facts", 0.34), ("control", 0.32)))
    lift = PairedStats("facts", "without", 150, 0.03, (-0.05, 0.11), 20, 16, without_p)
    effect = PairedStats("facts", "control", 150, 0.02, (-0.05, 0.09), 18, 15, 0.7)
    return DemoResult(rows, (350, 0, 150), effect, lift, (("graph", 9.0),), {}, "report.json", "out", "AVX2")


def test_the_demo_table_keeps_its_columns_and_says_when_its_lift_is_noise():
    table = demo_result(without_p=0.6).table()
    header, *rows = table.splitlines()[1:5]  # the header and the three readers
    assert len({line.index(" 150 ") for line in rows}) == 1 and header.index("   n ") == rows[0].index(" 150 ")
    assert "150 test questions cannot tell the lift over the reader without facts from noise" in table
    assert "cannot tell" not in demo_result(without_p=0.01).table()
    assert "cpu kernels: AVX2;" in table  # which kernels made the figures: other kernels give a few other answers


def defined_concepts(graph: str) -> int:
    with GraphStore.open(graph) as store:
        return sum(1 for name in store.vocabulary() if (store.concept(name).description or ""))


@pytest.mark.slow  # reads all of WordNet and GCIDE twice; tiny readers train in each of 3 runs
def test_the_demo_attaches_definitions_only_when_its_readers_read_them(tiny_demo, tmp_path):
    run_demo(tiny_demo)  # encoder-facts.yaml: `retrieval.definitions: false`
    assert defined_concepts(tiny_demo.graph) == 0
    pipeline = yaml.safe_load(Path(tiny_demo.adapter_pipeline).read_text(encoding="utf-8"))
    pipeline["retrieval"]["definitions"] = True
    (tmp_path / "defined.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    reading = tiny_demo.model_copy(update={"graph": str(tmp_path / "g2"), "out": str(tmp_path / "out2"),
                                           "adapter_pipeline": str(tmp_path / "defined.yaml")})
    run_demo(reading)
    assert defined_concepts(reading.graph) > 0
    forced = tiny_demo.model_copy(update={"graph": str(tmp_path / "g3"), "definitions": True})
    run_demo(forced)  # asked for explicitly: attached, though the readers do not read them
    assert defined_concepts(forced.graph) == defined_concepts(reading.graph)


class Stop(Exception):
    """Raised by a stand-in for run_demo once it has the config: the CLI's part is done."""


@pytest.mark.parametrize(("flags", "definitions"), [([], None), (["--definitions"], True),
                                                    (["--no-definitions"], False)])
def test_cli_demo_passes_definitions_to_the_demo(monkeypatch, flags, definitions):
    import kqa.demo

    seen: list[DemoConfig] = []

    def stand_in(config: DemoConfig):
        seen.append(config)
        raise Stop

    monkeypatch.setattr(kqa.demo, "run_demo", stand_in)
    result = CliRunner().invoke(app, ["demo", "--questions", "20", *flags])
    assert isinstance(result.exception, Stop), result.output
    assert seen[0].definitions is definitions and seen[0].questions == 20
