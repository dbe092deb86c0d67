"""`--skip-invalid` keeps every valid record of a file whatever the invalid ones contain, and counts the rest."""

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from benchmarks import fuzz_inputs as inputs
from benchmarks.fuzz_targets import records_in
from kqa.cli import app
from kqa.data import load_questions
from kqa.errors import KQAError
from tests.conftest import csqa_record, write_jsonl
from tests.fuzz import FUZZ

runner = CliRunner()


def mixed_file(rng: random.Random) -> tuple[bytes, list[str]]:
    """Valid records `keep-i` among mutated ones (ids `drop-i`: no one-byte change turns one into a `keep-` id) and
    random bytes; returns the file and the valid ids in order."""
    lines, kept = [], []
    for i in range(rng.randrange(1, 8)):
        shape = rng.choice(inputs.CSQA_SHAPES)
        if rng.random() < 0.4:
            kept.append(f"keep-{i}")
            lines.append(inputs.dumps(inputs.question_record(rng, shape, kept[-1]), rng))
        elif rng.random() < 0.8:
            lines.append(inputs.maybe_mutated(inputs.question_record(rng, shape, f"drop-{i}"), rng, 1.0, 0.3))
        else:
            lines.append(rng.randbytes(rng.randrange(1, 40)))
    return inputs.join_lines(lines, rng), kept


def in_order(ids: list[str], kept: list[str]) -> bool:
    return [i for i in ids if i in kept] == kept


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_load_questions_keeps_every_valid_record_and_counts_the_rest(tmp_path_factory, rng):
    path = tmp_path_factory.mktemp("skip") / "q.jsonl"
    data, kept = mixed_file(rng)
    path.write_bytes(data)
    loaded = load_questions(path, skip_invalid=True)
    assert in_order([q.id for q in loaded.questions], kept)
    assert len(loaded.questions) + len(loaded.skipped) == records_in(data)
    assert all(str(path) in problem for problem in loaded.skipped)


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_kqa_validate_skip_invalid_counts_as_load_questions_does(tmp_path_factory, rng):
    path = tmp_path_factory.mktemp("skip") / "q.jsonl"
    data, kept = mixed_file(rng)
    path.write_bytes(data)
    result = runner.invoke(app, ["validate", str(path), "--skip-invalid", "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    summary = json.loads(result.stdout)
    assert summary["valid"] >= len(kept) and summary["valid"] + summary["invalid"] == records_in(data)
    assert result.exit_code == (1 if summary["invalid"] else 0)
    strict = runner.invoke(app, ["validate", str(path)])  # without the flag: the first bad record, as an error
    assert strict.exit_code == 0 or isinstance(strict.exception, KQAError), repr(strict.exception)


# ---- issue #20's report: the second record's answerKey is [null] ---------------------------------------------------
@pytest.fixture
def reported(tmp_path):
    return write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1"), {**csqa_record("q2"), "answerKey": [None]},
                                               csqa_record("q3", "C")])


def test_kqa_validate_skip_invalid_lists_the_bad_record(reported):
    result = runner.invoke(app, ["validate", str(reported), "--skip-invalid"])
    assert result.exit_code == 1, result.output
    assert f"{reported}: 2 valid questions, 1 invalid" in result.output
    assert f"line 2 of {reported}: `answerKey` [None] is not one of the choice labels" in result.output


def test_kqa_eval_skip_invalid_answers_the_valid_records(reported, tmp_path, tiny_llama_dir):
    pipeline = tmp_path / "tiny.yaml"
    pipeline.write_text(f"model:\n  name: {tiny_llama_dir}\nscorer:\n  mode: sum\n")
    result = runner.invoke(app, ["eval", str(reported), "--skip-invalid", "-p", str(pipeline), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 2
