"""The CLI: argument parsing, --json purity, and errors as one line (exit 2) instead of a traceback."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kqa.cli import app
from tests.conftest import csqa_record, write_jsonl

runner = CliRunner()


@pytest.fixture
def tiny_pipeline(tmp_path, tiny_llama_dir):
    path = tmp_path / "tiny.yaml"
    path.write_text(f"model:\n  name: {tiny_llama_dir}\nscorer:\n  mode: sum\n")
    return path


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ask", "eval", "validate"):
        assert command in result.output


def test_ask_json_prints_one_object(tiny_pipeline):
    result = runner.invoke(app, ["ask", "Where is the fish?", "--choices", "sea|sky|oven", "-p", str(tiny_pipeline), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["predicted"] in {"A", "B", "C"}
    assert [c["text"] for c in payload["choices"]] == ["sea", "sky", "oven"]


def test_eval_json_and_out_dir(tmp_path, tiny_pipeline, tiny_llama_dir):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1", "A"), csqa_record("q2", "C")])
    result = runner.invoke(app, ["eval", str(data), "-p", str(tiny_pipeline), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 2 and 0.0 <= report["accuracy"] <= 1.0
    assert report["model"] == str(tiny_llama_dir)
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["q1", "q2"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n"] == 2


def test_eval_table_ends_with_accuracy(tmp_path, tiny_pipeline):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1", "A")])
    result = runner.invoke(app, ["eval", str(data), "-p", str(tiny_pipeline)])
    assert result.exit_code == 0
    assert result.stdout.strip().splitlines()[-1].startswith("accuracy")


def test_validate_reports_every_problem_with_skip_invalid(tmp_path):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1"), csqa_record("q1"), "{oops"])
    result = runner.invoke(app, ["validate", str(data), "--skip-invalid", "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["valid"] == 1 and summary["invalid"] == 2
    ok = runner.invoke(app, ["validate", str(write_jsonl(tmp_path / "ok.jsonl", [csqa_record("q1")]))])
    assert ok.exit_code == 0 and "1 valid questions, 0 invalid" in ok.stdout


def test_errors_are_one_line_on_stderr_with_exit_2(tmp_path):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1", answer="Q")])
    proc = subprocess.run([sys.executable, "-m", "kqa", "validate", str(data)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().startswith("error: line 1 of")
    assert "Traceback" not in proc.stderr


def test_corpus_writes_sciq_paragraphs_and_refuses_other_sets(tmp_path):
    result = runner.invoke(app, ["corpus", "sciq:validation", str(tmp_path / "sciq")])
    assert result.exit_code == 0 and "887 documents written to" in result.stdout
    assert len(list((tmp_path / "sciq").glob("doc-*.txt"))) == 887
    proc = subprocess.run([sys.executable, "-m", "kqa", "corpus", "obqa:validation", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "only sciq:validation carries support paragraphs" in proc.stderr
    assert not (tmp_path / "o").exists()
