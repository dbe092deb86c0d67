"""`eval_command` on its own Typer app (the lead mounts it as `kqa eval`); mirrors tests/test_cli.py's eval tests."""

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from kqa.errors import ConfigError, InputError
from kqa.evaluation import eval_command
from tests.conftest import csqa_record, write_jsonl

app = typer.Typer()
app.command("eval")(eval_command)
app.command("noop")(lambda: None)  # two commands, so `eval` is a subcommand as in kqa's app
runner = CliRunner()


def test_eval_json_and_out_dir(tmp_path, tiny_yaml, tiny_llama_dir):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1", "A"), csqa_record("q2", "C")])
    result = runner.invoke(app, ["eval", str(data), "-p", str(tiny_yaml), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 2 and 0.0 <= report["accuracy"] <= 1.0 and report["model"] == str(tiny_llama_dir)
    assert report["accuracy_ci95"][0] <= report["accuracy"] <= report["accuracy_ci95"][1]
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["q1", "q2"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n"] == 2
    assert (tmp_path / "run" / "report.md").exists()


def test_eval_of_two_sets_table_ends_with_accuracy(tmp_path, tiny_yaml):
    a = write_jsonl(tmp_path / "a.jsonl", [csqa_record("q1", "A")])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": "o1", "question": "Sky?", "options": ["blue", "red"], "answer": 0}])
    result = runner.invoke(app, ["eval", str(a), str(b), "-p", str(tiny_yaml)])
    assert result.exit_code == 0, result.output
    assert re.search(r"^questions\s+2$", result.stdout, re.MULTILINE)
    assert result.stdout.strip().splitlines()[-1].startswith("accuracy")


def test_bad_record_names_file_and_line_and_skip_invalid_counts(tmp_path, tiny_yaml):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1"), "{oops", csqa_record("q3", answer="Z")])
    strict = runner.invoke(app, ["eval", str(data), "-p", str(tiny_yaml)])
    assert isinstance(strict.exception, InputError)
    assert str(strict.exception).startswith(f"line 2 of {data}: invalid JSON")
    result = runner.invoke(app, ["eval", str(data), "-p", str(tiny_yaml), "--skip-invalid", "--json",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 1 and report["skipped"] == 2
    assert "line 3 of" in report["skipped_examples"][1] and "`answerKey` 'Z'" in report["skipped_examples"][1]


@pytest.mark.parametrize("args, message", [
    (["--resume"], "--resume needs --out"),
    (["--compare"], "--compare needs --out"),
    (["--engine", "spark"], r"`engine`: Input should be 'local' or 'ray' \(got 'spark'\)"),
])
def test_option_errors_name_the_option(tmp_path, tiny_yaml, args, message):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1")])
    result = runner.invoke(app, ["eval", str(data), "-p", str(tiny_yaml), *args])
    assert isinstance(result.exception, ConfigError)
    assert re.search(message, str(result.exception))
