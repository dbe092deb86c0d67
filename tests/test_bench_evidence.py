"""benchmarks/bench_evidence.py: what the retrieved facts alone say about the answer, without the question."""

from benchmarks.bench_evidence import facts_alone
from kqa.types import Choice, Evidence, Fact, Question


def question(qid: str, answer: str) -> Question:
    return Question(qid, "where?", tuple(Choice(label, label.lower()) for label in "ABCDE"), answer=answer)


def facts(count: int, origin: str = "direct") -> tuple[Fact, ...]:
    return tuple(Fact("h", "AtLocation", "t", "h is at t", origin=origin) for _ in range(count))


def test_facts_alone_splits_ties_evenly_and_counts_only_connecting_facts_for_the_first_rule():
    rows = [
        # gold A alone has a fact: both rules pick it
        (question("q1", "A"), Evidence("q1", (facts(1), (), (), (), ()))),
        # gold B shares "has a fact" with C, but C has more facts; a dense hit does not connect
        (question("q2", "B"), Evidence("q2", ((), facts(1), facts(3), facts(1, origin="dense"), ()))),
        # no choice has a fact: every choice ties
        (question("q3", "C"), Evidence("q3", ((), (), (), (), ()))),
    ]
    result = facts_alone(rows)
    assert result["has_connecting_fact"] == round((1 + 1 / 2 + 1 / 5) / 3, 4)
    assert result["most_facts"] == round((1 + 0 + 1 / 5) / 3, 4)
    assert result["chance"] == 0.2
