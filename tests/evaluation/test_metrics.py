import numpy as np
import pytest

from kqa.evaluation.metrics import (
    bootstrap_ci,
    by_concept,
    by_linked,
    gold_coverage,
    mcnemar_exact,
    paired_bootstrap,
    paired_by_question,
    position_confusion,
    reliability,
    summarize,
)
from kqa.evaluation.records import EvalRecord
from kqa.evaluation.results import ConceptAccuracy, LinkedAccuracy
from kqa.types import ChoiceScore, Fact, Prediction


def record(qid, gold, predicted, probs=(0.6, 0.3, 0.1), concept="c", linked=None, gold_origin=""):
    labels = "ABC"
    choices = tuple(ChoiceScore(lab, lab.lower(), 0.0, p,
                                (Fact("h", "r", "t", f"{qid}{lab}", score=0.5, origin=gold_origin),)
                                if lab == gold and gold_origin else ())
                    for lab, p in zip(labels, probs))
    return EvalRecord(Prediction(qid, predicted, choices, gold=gold), "s", concept,
                      None if linked is None else tuple(linked))


def test_bootstrap_ci_contains_the_estimate_and_is_seeded():
    correct = [True] * 70 + [False] * 30
    acc, low, high = bootstrap_ci(correct, samples=2000, seed=3)
    assert acc == 0.7 and low < 0.7 < high
    assert 0.58 < low < 0.66 and 0.74 < high < 0.82  # ~ 0.7 +- 1.96 * sqrt(0.21 / 100)
    assert bootstrap_ci(correct, 2000, seed=3) == (acc, low, high)
    with pytest.raises(ValueError, match="at least one labelled prediction, got 0"):
        bootstrap_ci([])


def test_ece_is_zero_for_a_perfectly_calibrated_toy_set_and_exact_otherwise():
    # 10 answers at confidence 0.8 of which 8 right, 10 at 0.3 of which 3 right
    confidence = [0.8] * 10 + [0.3] * 10
    correct = [True] * 8 + [False] * 2 + [True] * 3 + [False] * 7
    result = reliability(confidence, correct, bins=10)
    assert result.ece == pytest.approx(0.0, abs=1e-12)
    assert [b.n for b in result.bins] == [0, 0, 0, 10, 0, 0, 0, 0, 10, 0]
    overconfident = reliability([0.9] * 4, [True, False, True, False], bins=10)
    assert overconfident.ece == pytest.approx(0.4)
    assert reliability([1.0], [True]).bins[-1].n == 1  # confidence 1.0 falls in the last bin


def test_position_confusion_counts_gold_against_predicted_positions():
    records = [record("1", "A", "A"), record("2", "B", "A"), record("3", "C", "A"), record("4", "B", "B"),
               record("5", None, "C")]
    pos = position_confusion(records)
    assert pos.matrix == ((1, 0, 0), (1, 1, 0), (1, 0, 0))
    assert pos.predicted_share == (0.6, 0.2, 0.2)  # the gold-less record counts in predictions only
    assert pos.gold_share == (0.25, 0.5, 0.25)


def test_coverage_counts_graph_facts_on_the_gold_choice_only():
    assert gold_coverage(record("1", "B", "A", gold_origin="direct"))
    assert gold_coverage(record("1", "B", "A", gold_origin="two-hop"))
    assert not gold_coverage(record("1", "B", "A", gold_origin="dense"))
    assert not gold_coverage(record("1", "B", "A"))


def test_per_concept_and_per_linked_concepts():
    records = [record("1", "A", "A", concept="fish", linked=["a"]), record("2", "A", "B", concept="fish", linked=[]),
               record("3", "A", "A", concept="dog", linked=["a", "b", "c", "d", "e", "f"])]
    assert by_concept(records, top=1) == (ConceptAccuracy("fish", 2, 0.5),)
    assert by_linked(records) == (LinkedAccuracy("0", 1, 0.0), LinkedAccuracy("1", 1, 1.0),
                                  LinkedAccuracy("5+", 1, 1.0))


def test_summarize_without_answer_keys_has_no_accuracy():
    metrics = summarize([record("1", None, "A"), record("2", None, "B")])
    assert metrics.accuracy is None and metrics.labelled == 0 and metrics.n == 2
    assert metrics.calibration is None and "calibration" not in metrics.to_dict()


def test_mcnemar_exact_on_a_hand_example():
    # 1 question only A got right, 6 only B: p = 2 * P(X <= 1), X ~ Binomial(7, 1/2) = 2 * 8 / 128
    assert mcnemar_exact(1, 6) == pytest.approx(0.125)
    assert mcnemar_exact(6, 1) == pytest.approx(0.125)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)


def test_paired_by_question_is_the_sign_test_when_each_question_is_answered_once():
    # 1 question only A got right, 6 only B, 3 both: the exact sign-flip test of +-1 differences is McNemar's
    questions = [f"q{i}" for i in range(10)]
    a = [True] + [False] * 6 + [True] * 3
    b = [False] + [True] * 6 + [True] * 3
    out = paired_by_question(questions, a, b)
    assert out["p"] == pytest.approx(mcnemar_exact(1, 6)) and (out["gained"], out["lost"]) == (1, 6)
    assert out["difference"] == pytest.approx(-0.5) and out["n"] == out["answers"] == 10
    assert out["ci95"][0] <= out["difference"] <= out["ci95"][1]
    # more than 16 differing questions: random sign patterns, close to the exact binomial
    many = paired_by_question([f"q{i}" for i in range(45)], [True] * 30 + [False] * 15, [False] * 30 + [True] * 15)
    assert many["p"] == pytest.approx(mcnemar_exact(30, 15), abs=0.005)


def test_paired_by_question_counts_a_question_answered_in_several_splits_once():
    questions = [f"q{i}" for i in range(45)]
    a, b = [True] * 30 + [False] * 15, [False] * 30 + [True] * 15
    once = paired_by_question(questions, a, b)
    thrice = paired_by_question(questions * 3, a * 3, b * 3)  # the same answers in three overlapping test parts
    assert (thrice["n"], thrice["answers"]) == (45, 135) and thrice["p"] == pytest.approx(once["p"])
    assert mcnemar_exact(90, 45) < once["p"] / 100  # what pooling the answers would claim
    # a question right in one split and wrong in another counts half
    half = paired_by_question(["q", "q", "r"], [True, False, True], [False, False, False])
    assert half["difference"] == pytest.approx(0.75) and half["gained"] == 2
    with pytest.raises(ValueError, match="equally long"):
        paired_by_question(["q"], [True], [True, False])


def test_paired_by_question_p_counts_the_observed_pattern_and_is_one_without_differences():
    # 25 questions all for a: no random pattern of 999 reaches |25| (chance 999 / 2^24), so p = (0 + 1) / (999 + 1)
    out = paired_by_question([f"q{i}" for i in range(25)], [True] * 25, [False] * 25, flips=999)
    assert out["p"] == pytest.approx(1 / 1000)
    same = paired_by_question(["q", "r", "q"], [True, False, True], [True, False, True])
    assert same["p"] == 1.0 and same["difference"] == 0.0 and (same["gained"], same["lost"]) == (0, 0)


def test_paired_bootstrap_centres_on_the_difference():
    a = [True] * 60 + [False] * 40
    b = [True] * 50 + [False] * 50
    diff, low, high = paired_bootstrap(a, b, samples=1000, seed=0)
    assert diff == pytest.approx(0.1) and low < 0.1 < high and low > 0  # 10 discordant pairs, all for A
    assert np.isclose(paired_bootstrap(a, a)[1], 0.0)
