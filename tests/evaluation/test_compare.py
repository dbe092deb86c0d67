import json

import pytest

from kqa.config import PipelineConfig
from kqa.errors import ConfigError
from kqa.evaluation import Comparison, EvalSet, EvaluationConfig
from kqa.pipeline import KQAPipeline
from kqa.retrieval.control import MatchedControlRetriever
from tests.evaluation.conftest import CountingReader, HintRetriever, fake_pipeline, questions

QUIET = EvaluationConfig(progress=False, chunk=4, bootstrap=200)


def distinct_facts(record):
    return {f["text"] for c in record["choices"] for f in c["evidence"]}


def test_compare_runs_three_variants_and_the_control_matches_the_fact_count(tmp_path):
    pipeline, _ = fake_pipeline()
    report = Comparison(pipeline, tmp_path / "cmp", QUIET).run([EvalSet("set", tuple(questions(12)))])
    assert list(report.variants) == ["with", "without", "control"]
    runs = {name: [json.loads(x) for x in (tmp_path / "cmp" / "variants" / name / "predictions.jsonl").read_text().splitlines()]
            for name in report.variants}
    for with_, control, without in zip(runs["with"], runs["control"], runs["without"]):
        assert [len(c["evidence"]) for c in control["choices"]] == [len(c["evidence"]) for c in with_["choices"]]
        assert len(distinct_facts(control)) == len(distinct_facts(with_))
        assert not distinct_facts(control) & distinct_facts(with_)  # none of its own facts
        assert all(f["origin"] == "control" for c in control["choices"] for f in c["evidence"])
        assert distinct_facts(without) == set()
    # the hint (even questions) makes "with" right there; the control's hints name other questions' answers
    assert report.variants["with"].overall.accuracy > report.variants["control"].overall.accuracy
    pair = report.pairs[0]
    assert (pair.a, pair.b) == ("with", "control") and pair.a_only > 0
    assert 0 <= pair.mcnemar_p <= 1 and pair.ci95[0] <= pair.difference <= pair.ci95[1]
    helped = [f for f in report.flips if f.a_correct]
    assert helped and all(any(t.startswith("hint:") for t in f.facts) for f in helped)
    flips = [json.loads(x) for x in (tmp_path / "cmp" / "flips.jsonl").read_text().splitlines()]
    assert {f["pair"] for f in flips} >= {"with - control"}
    text = (tmp_path / "cmp" / "report.md").read_text()
    assert "(plots/compare.png)" in text and "| with - control |" in text
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["variants"]["with"]["n"] == 12


def test_compare_with_a_second_pipeline_adds_a_paired_row(tmp_path):
    pipeline, _ = fake_pipeline()
    other = KQAPipeline(PipelineConfig(), CountingReader(), None)
    report = Comparison(pipeline, tmp_path / "cmp", QUIET, other=other, other_name="plain").run(
        [EvalSet("set", tuple(questions(6)))])
    assert list(report.variants) == ["with", "without", "control", "plain"]
    assert [(p.a, p.b) for p in report.pairs][-1] == ("with", "plain")


def test_compare_needs_a_retriever(tmp_path):
    pipeline, _ = fake_pipeline(retriever=False)
    with pytest.raises(ConfigError, match="the control variant needs a pipeline with a retriever"):
        Comparison(pipeline, tmp_path / "cmp", QUIET).run([EvalSet("set", tuple(questions(4)))])


def test_control_walks_on_to_further_donors_when_one_has_too_few_facts():
    qs = questions(6)
    control = MatchedControlRetriever(HintRetriever(), qs, seed=0)
    inner = HintRetriever()
    for q in qs:
        own = {f.text for per in inner.run(q).per_choice for f in per}
        borrowed = {f.text for per in control.run(q).per_choice for f in per}
        assert len(borrowed) == len(own) and not borrowed & own
