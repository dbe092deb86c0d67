import pytest

from kqa.errors import InputError

from kqa.data import question_from_text
from kqa.retrieval.control import MatchedControlRetriever, derangement
from kqa.types import Evidence, Fact


@pytest.mark.parametrize("n", [2, 3, 10, 101])
def test_derangement_has_no_fixed_point_and_is_seeded(n):
    perm = derangement(n, seed=7)
    assert sorted(perm) == list(range(n)) and all(i != j for i, j in enumerate(perm))
    assert perm == derangement(n, seed=7)
    with pytest.raises(InputError, match="at least 2 questions to swap evidence between, got 1"):
        derangement(1)


class OwnFacts:
    def run(self, question):
        fact = Fact("x", "RelatedTo", "y", f"fact of {question.id}")
        return Evidence(question.id, tuple((fact,) for _ in question.choices))


def test_control_borrows_another_questions_facts_with_the_same_count():
    questions = [question_from_text(f"q{i}?", ["a", "b", "c"], qid=f"q{i}") for i in range(5)]
    control = MatchedControlRetriever(OwnFacts(), questions, seed=1)
    for q in questions:
        evidence = control.run(q)
        assert evidence.question_id == q.id and len(evidence.per_choice) == 3
        texts = {f.text for per in evidence.per_choice for f in per}
        assert len(texts) == 1 and texts != {f"fact of {q.id}"}
        assert all(f.origin == "control" for per in evidence.per_choice for f in per)


def test_control_refuses_repeated_question_ids():
    questions = [question_from_text(f"q{i}?", ["a", "b"], qid=qid) for i, qid in enumerate(["A", "B", "A", "C"])]
    with pytest.raises(InputError, match=r"ids must be unique; repeated: \['A'\]"):
        MatchedControlRetriever(OwnFacts(), questions, seed=2)
