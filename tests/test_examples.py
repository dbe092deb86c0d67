"""Every script in examples/ runs, on tiny models where the script lets a pipeline YAML choose the model."""

import json
import runpy
import sys
from pathlib import Path

import pytest
import yaml

from kqa.graph.builder import GraphBuilder

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TESTED = {"answer_questions.py", "build_and_update_graph.py", "finetune_knowledge_adapter.py", "evaluate_csqa.py"}


def run_example(name: str, args: list, monkeypatch, capsys) -> str:
    monkeypatch.chdir(ROOT)  # the scripts' defaults are relative to the repository root
    monkeypatch.setattr(sys, "argv", [name, *map(str, args)])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def write_yaml(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory, tiny_llama_dir) -> Path:
    """The default pipeline with a tiny Llama reader; graph paths only (no dense index to build)."""
    return write_yaml(tmp_path_factory.mktemp("cfg") / "tiny.yaml",
                      {"model": {"name": str(tiny_llama_dir)}, "retrieval": {"dense_k": 0}})


def test_every_example_has_a_test():
    assert {p.name for p in EXAMPLES.glob("*.py")} == TESTED


@pytest.mark.slow  # spaCy's en_core_web_sm parses the corpus
def test_answer_questions_prints_an_answer_and_evidence_per_question(tiny_reader, tmp_path, monkeypatch, capsys):
    graph = tmp_path / "graph"
    GraphBuilder(progress=False).run(ROOT / "data" / "corpus_small", graph, create=True)
    out = run_example("answer_questions.py", ["--pipeline", tiny_reader, "--graph", graph], monkeypatch, capsys)
    module = runpy.run_path(str(EXAMPLES / "answer_questions.py"))
    answers = [line.removeprefix("A: ").split(" (p=")[0] for line in out.splitlines() if line.startswith("A: ")]
    assert [choices for _, choices in module["QUESTIONS"]] and len(answers) == 3
    assert all(a in choices for a, (_, choices) in zip(answers, module["QUESTIONS"]))
    fish = out.split("Q: ")[1]  # data/corpus_small/aquarium.txt is about keeping fish
    assert "evidence: none" not in fish and "aquarium" in fish.split("evidence:")[1]


@pytest.mark.slow
def test_build_and_update_graph_parses_only_the_new_document(tmp_path, monkeypatch, capsys):
    out = run_example("build_and_update_graph.py", ["--graph", tmp_path / "g"], monkeypatch, capsys)
    corpus = sorted(p.name for p in (ROOT / "data" / "corpus_small").iterdir())
    build, update, remove = out.split("== ")[1:]
    assert f"documents  parsed {len(corpus)}, unchanged 0" in build
    assert f"documents  parsed 1, unchanged {len(corpus)}" in update and "kettle" in update
    assert "removed 1" in remove.splitlines()[1] and "edges removed" in remove
    assert sorted(p.name for p in (ROOT / "data" / "corpus_small").iterdir()) == corpus  # worked on a copy


def test_finetune_knowledge_adapter_trains_saves_reloads_and_answers(tmp_path, monkeypatch, capsys, minilm_tokenizer):
    from tests.test_adapter_model import save_tiny_bert

    bert = save_tiny_bert(tmp_path / "bert", minilm_tokenizer)
    config = write_yaml(tmp_path / "kpe.yaml", {
        "adapter": {"backbone": str(bert), "top_layers": 1, "width": 16, "heads": 4, "max_fact_tokens": 16},
        "train": {"batch_size": 4, "max_length": 48}})
    out = run_example("finetune_knowledge_adapter.py", ["--pipeline", config, "--questions", 20, "--out",
                                                       tmp_path / "run"], monkeypatch, capsys)
    assert (tmp_path / "run" / "adapter" / "adapter.safetensors").is_file()
    assert "trained 3 steps" in out  # 12 training questions (60% of 20) in batches of 4, one epoch
    assert out.splitlines()[-1].split("predicted: ")[1].rstrip(")") in "ABCDE"


def test_evaluate_csqa_writes_a_report_that_agrees_with_its_predictions(tiny_reader, tmp_path, monkeypatch, capsys):
    out = run_example("evaluate_csqa.py", ["--pipeline", tiny_reader, "--limit", 6, "--out", tmp_path / "e"],
                      monkeypatch, capsys)
    records = [json.loads(line) for line in (tmp_path / "e" / "predictions.jsonl").read_text().splitlines()]
    correct = sum(r["correct"] for r in records)
    assert len(records) == 6 and (tmp_path / "e" / "report.md").is_file()
    assert f"accuracy            {correct / 6:.4f} ({correct}/6)" in out or f"({correct}/6)" in out
