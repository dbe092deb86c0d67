"""The most likely user mistakes, each through the real console entry point (`kqa.cli.main`).

Every message must say what was wrong (the path, key or value) and what to do next, on one line of stderr, with
exit code 2 and nothing on stdout.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from kqa.cli import main

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def kqa(monkeypatch, capsys):
    """Run `kqa ARGS...` in-process through `main`, exactly as the console script does."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as the Makefile sets it: no network, ever

    def run(*args) -> Outcome:
        monkeypatch.setattr(sys, "argv", ["kqa", *map(str, args)])
        capsys.readouterr()  # drop what earlier steps printed
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return run


def user_error(outcome: Outcome, *fragments: str) -> str:
    """Assert the shape of a user error and that every fragment (what was wrong, what to do) is in it."""
    assert outcome.code == 2, outcome
    assert outcome.stdout == "", outcome
    assert "Traceback" not in outcome.stderr
    line = outcome.stderr.strip().splitlines()[-1]
    assert line.startswith("error: "), outcome.stderr
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


@pytest.fixture
def tiny_pipeline(tmp_path, tiny_llama_dir) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(f"model:\n  name: {tiny_llama_dir}\nscorer:\n  mode: sum\n")
    return path


def test_question_file_that_does_not_exist(kqa, tmp_path):
    missing = tmp_path / "nope.jsonl"
    user_error(kqa("eval", missing), f"question file {missing} does not exist", "csqa:validation", ".jsonl")


def test_pipeline_file_that_does_not_exist(kqa, tmp_path):
    user_error(kqa("ask", "Where?", "--choices", "a|b", "-p", tmp_path / "nope.yaml"),
               "nope.yaml does not exist", "pipelines/zero-shot.yaml")


def test_graph_not_built_same_message_and_code_in_graph_and_root_commands(kqa, tmp_path):
    graph = tmp_path / "g"
    for args in (("graph", "stats", "--graph", graph), ("link", "fish", "--graph", graph)):
        user_error(kqa(*args), f"no graph at {graph}", f"kqa graph build CORPUS --graph {graph}")


def test_the_python_api_keeps_the_index_in_step_like_the_cli_unless_told_not_to(kqa, tmp_path, tiny_pipeline):
    """`kqa graph import` and the Python function it calls both keep the index in step; `index=None` opts out, and
    the index is then refused with the fix."""
    from kqa.graph.importers import import_conceptnet

    graph = tmp_path / "g"
    assert kqa("graph", "import", "conceptnet", ROOT / "data" / "conceptnet_sample.csv", "--graph", graph).code == 0
    assert kqa("index", "build", "--graph", graph, "--json").code == 0
    ask = ("ask", "Where would a fish live?", "--choices", "aquarium|desert", "-p", tiny_pipeline, "--graph", graph)
    import_conceptnet(graph, is_a(tmp_path / "cat.csv", "cat", "pet"))  # the graph and its index change together
    assert kqa(*ask).code == 0
    import_conceptnet(graph, is_a(tmp_path / "dog.csv", "dog", "pet"), index=None)  # graph changed, index not
    user_error(kqa(*ask), "the index is out of date with the graph", f"kqa index build --graph {graph}")


def is_a(path: Path, head: str, tail: str) -> Path:
    """A ConceptNet 5 assertions file of one edge: `head` IsA `tail`."""
    path.write_text(f"/a/[/r/IsA/,/c/en/{head}/,/c/en/{tail}/]\t/r/IsA\t/c/en/{head}\t/c/en/{tail}\t"
                    "{\"weight\": 1.0}\n")
    return path


def test_unknown_model_name_lists_the_known_ones(kqa, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("model:\n  name: smollm3-999m\n")
    user_error(kqa("ask", "Where?", "--choices", "a|b", "-p", pipeline),
               "unknown model 'smollm3-999m'", "smollm2-135m", "minilm-l6", "`model.name`")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the mistake is a CUDA-only setting on a CPU machine")
def test_qlora_on_cpu_names_the_cpu_setting(kqa, tmp_path):
    user_error(kqa("train", "-p", ROOT / "pipelines" / "gpu-qlora.yaml", "--limit", 10, "--out", tmp_path / "run"),
               "`adapter.quantization: nf4`", "needs a CUDA GPU", "`adapter.quantization: null`")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the mistake is a CUDA-only setting on a CPU machine")
def test_cuda_device_on_cpu_names_the_cpu_setting(kqa, tmp_path, tiny_llama_dir):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"model:\n  name: {tiny_llama_dir}\n  device: cuda:0\n")
    user_error(kqa("ask", "Where?", "--choices", "a|b", "-p", pipeline),
               "`model.device` is 'cuda:0'", "`model.device: cpu`")


def test_empty_corpus_folder(kqa, tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.pdf").write_bytes(b"%PDF")  # present, but not a corpus extension
    user_error(kqa("graph", "build", tmp_path / "corpus", "--graph", tmp_path / "g"),
               f"corpus folder {tmp_path / 'corpus'} has no .txt/.md files", ".jsonl")


def test_pipeline_yaml_typo_suggests_the_key(kqa, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("scorer:\n  mdoe: sum\n")
    user_error(kqa("ask", "Where?", "--choices", "a|b", "-p", pipeline),
               "p.yaml: `scorer.mdoe`: unknown key", "did you mean `mode`?", "valid keys of `scorer`:")


def test_pipeline_yaml_bad_value_lists_the_valid_ones(kqa, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("scorer:\n  mode: median\n")
    user_error(kqa("ask", "Where?", "--choices", "a|b", "-p", pipeline),
               "`scorer.mode`", "'sum', 'mean', 'char' or 'pmi'", "(got 'median')")


def test_adapter_folder_that_is_not_an_adapter(kqa, tmp_path, tiny_pipeline):
    folder = tmp_path / "runs" / "kpe"  # the --out folder instead of --out/adapter: the likely slip
    folder.mkdir(parents=True)
    user_error(kqa("ask", "Where?", "--choices", "a|b", "-p", tiny_pipeline, "--adapter", folder),
               f"{folder} is not a saved adapter", "adapter_config.json", "OUT/adapter")


def test_ask_with_one_choice_says_how_to_separate_them(kqa):
    user_error(kqa("ask", "Where would you keep a fish?", "--choices", "aquarium, desert"),
               "needs at least 2 choices, got 1", "Separate them with '|'")


def test_resume_without_a_checkpoint(kqa, tmp_path):
    user_error(kqa("train", "-p", ROOT / "pipelines" / "encoder-kpe.yaml", "--limit", 10, "--epochs", 1,
                   "--out", tmp_path / "run", "--resume", "--json"),
               f"no checkpoint in {tmp_path / 'run' / 'checkpoints'}", "run without --resume")


def test_bad_option_value_exits_2_in_graph_and_root_commands(kqa, tmp_path):
    graph = user_error(kqa("graph", "build", tmp_path, "--graph", tmp_path / "g", "--engine", "spark"), "--engine")
    root = user_error(kqa("index", "build", "--graph", tmp_path, "--factory", "LSH"), "`factory`", "HNSW")
    assert "spark" in graph and "'LSH'" in root


def test_missing_required_option_is_a_usage_error_with_exit_2(kqa):
    outcome = kqa("ask", "Where?")
    assert outcome.code == 2 and "--choices" in outcome.stderr and outcome.stdout == ""

