import json

import pytest

from kqa.config import load_config
from kqa.errors import ConfigError, InputError
from kqa.evaluation import EvalSet, EvaluationConfig, Evaluator, PipelineSpec, load_set
from tests.conftest import write_jsonl
from tests.evaluation.conftest import as_records, fake_pipeline, make_question, questions

QUIET = EvaluationConfig(progress=False, chunk=4, bootstrap=200)


def run_fake(out, qs, config=QUIET, retriever=True, report=False):
    pipeline, reader = fake_pipeline(retriever)
    result = Evaluator(pipeline, out, config, report=report).run([EvalSet("set", tuple(qs))])
    return result, reader


def test_predictions_hold_scores_probabilities_evidence_and_are_in_input_order(tmp_path):
    result, reader = run_fake(tmp_path / "run", questions(6))
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == [f"q{i}" for i in range(6)] == reader.scored
    first = records[0]
    assert set(first) == {"id", "source", "gold", "predicted", "correct", "concept", "linked_concepts", "choices"}
    assert lines[0] == json.dumps(first, sort_keys=True, ensure_ascii=False)
    assert first["choices"][0]["probability"] == round(first["choices"][0]["probability"], 6)
    gold = next(c for c in first["choices"] if c["label"] == first["gold"])
    assert gold["evidence"][0]["origin"] == "direct" and "provenance" in gold["evidence"][0]
    timings = [json.loads(t) for t in (tmp_path / "run" / "timings.jsonl").read_text().splitlines()]
    assert [t["id"] for t in timings] == [r["id"] for r in records] and all(t["latency_s"] >= 0 for t in timings)
    assert result.metrics.overall.n == 6 and result.metrics.overall.coverage == 0.5  # even questions carry the hint fact


def test_resume_after_a_kill_mid_line_recomputes_only_unfinished_chunks(tmp_path):
    qs = questions(10)
    run_fake(tmp_path / "full", qs)
    full = (tmp_path / "full" / "predictions.jsonl").read_bytes()
    run_fake(tmp_path / "killed", qs)
    log = tmp_path / "killed" / "predictions.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:6]) + lines[6][: len(lines[6]) // 2])  # killed while writing question 7
    result, reader = run_fake(tmp_path / "killed", qs, QUIET.model_copy(update={"resume": True}))
    # chunks of 4: q0-q3 were complete and are kept; the chunk q4-q7 is answered again whole, then q8-q9
    assert reader.scored == [f"q{i}" for i in range(4, 10)]
    assert log.read_bytes() == full
    assert result.answered == 6 and result.metrics.overall.n == 10
    _, reader = run_fake(tmp_path / "killed", qs, QUIET.model_copy(update={"resume": True}))
    assert reader.scored == [] and log.read_bytes() == full  # resuming a finished run answers nothing


def test_resume_refuses_a_folder_written_by_another_run(tmp_path):
    run_fake(tmp_path / "run", questions(4))
    with pytest.raises(ConfigError, match=r"--resume: .*run.json was written by a different run \(differs in \['sources'\]\)"):
        pipeline, _ = fake_pipeline()
        Evaluator(pipeline, tmp_path / "run", QUIET.model_copy(update={"resume": True})).run(
            [EvalSet("other", tuple(questions(4)))])


def test_without_resume_a_rerun_starts_over(tmp_path):
    run_fake(tmp_path / "run", questions(4))
    _, reader = run_fake(tmp_path / "run", questions(4))
    assert len(reader.scored) == 4
    assert len((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()) == 4


def test_gold_less_set_gives_predictions_and_no_accuracy(tmp_path):
    data = write_jsonl(tmp_path / "test.jsonl", as_records(questions(4), drop_answers=True))
    pipeline, _ = fake_pipeline()
    result = Evaluator(pipeline, tmp_path / "run", QUIET).run([load_set(str(data))])
    assert result.accuracy is None and result.metrics.overall.labelled == 0
    assert [json.loads(x)["gold"] for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()] == [None] * 4
    last = result.table().splitlines()[-1]
    assert last.startswith("accuracy ") and last.endswith("n/a (no answer keys)")
    assert "No answer keys" in (tmp_path / "run" / "report.md").read_text()


def test_two_sets_get_per_source_metrics_and_clashing_ids_are_refused(tmp_path):
    a = EvalSet("a", tuple(questions(4)))
    b = EvalSet("b", tuple(make_question(i, answer=0) for i in range(10, 13)))
    pipeline, _ = fake_pipeline()
    result = Evaluator(pipeline, tmp_path / "run", QUIET, report=False).run([a, b])
    assert result.metrics.overall.n == 7 and set(result.metrics.by_source) == {"a", "b"}
    with pytest.raises(InputError, match="question id 'q0' is in both a and again"):
        Evaluator(pipeline, None, QUIET).run([a, EvalSet("again", a.questions[:1])])


def test_report_embeds_png_plots(tmp_path):
    run_fake(tmp_path / "run", questions(12), report=True)
    report = (tmp_path / "run" / "report.md").read_text()
    for name in ("reliability", "positions", "concepts", "linked"):
        assert f"(plots/{name}.png)" in report
        assert (tmp_path / "run" / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "95% bootstrap CI" in report


def test_tiny_model_reruns_are_byte_identical(tmp_path, tiny_yaml, question_file):
    spec = PipelineSpec(load_config(tiny_yaml))
    for out in ("one", "two"):
        Evaluator(spec, tmp_path / out, QUIET, report=False).run([load_set(str(question_file))])
    first = (tmp_path / "one" / "predictions.jsonl").read_bytes()
    assert first == (tmp_path / "two" / "predictions.jsonl").read_bytes() and first.count(b"\n") == 6
