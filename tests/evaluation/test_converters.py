import pytest

from kqa.errors import InputError
from kqa.evaluation.converters import detect_format, load_set
from tests.conftest import csqa_record, write_jsonl


def test_csqa_nested_and_flattened_and_arc_load(tmp_path):
    arc = {"id": "arc1", "question": {"stem": "What melts ice?", "choices": [{"label": "1", "text": "heat"},
                                                                             {"label": "2", "text": "cold"}]},
           "answerKey": "1"}
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1"), csqa_record("q2", nested=False), arc])
    loaded = load_set(str(data))
    assert [q.id for q in loaded.questions] == ["q1", "q2", "arc1"]
    assert loaded.questions[1].concept == "fish" and loaded.questions[2].answer == "1"


def test_options_shape_with_index_or_label(tmp_path):
    data = write_jsonl(tmp_path / "o.jsonl", [
        {"id": 1, "question": "Sky colour?", "options": ["blue", "green"], "answer": 0},
        {"id": "2", "question": "Grass colour?", "options": ["blue", "green", "red"], "answer": "B"},
    ])
    first, second = load_set(str(data)).questions
    assert [c.label for c in first.choices] == ["A", "B"] and first.answer == "A" and first.id == "1"
    assert second.answer == "B" and second.choices[1].text == "green"


def test_piqa_and_hellaswag_shapes(tmp_path):
    data = write_jsonl(tmp_path / "p.jsonl", [{"goal": "Open a jar", "sol1": "twist the lid", "sol2": "eat it", "label": 0}])
    (q,) = load_set(str(data)).questions
    assert q.id == "line-1" and q.answer == "A" and [c.text for c in q.choices] == ["twist the lid", "eat it"]
    data = write_jsonl(tmp_path / "h.jsonl", [{"ind": 7, "ctx": "A man", "endings": ["a", "b", "c", "d"], "label": "3"}])
    (q,) = load_set(str(data), format="hellaswag").questions
    assert q.id == "7" and q.answer == "D" and len(q.choices) == 4


def test_detect_format_names_the_options_when_ambiguous():
    assert detect_format({"goal": "x", "sol1": "a"}, "line 1 of f") == "piqa"
    with pytest.raises(InputError, match=r"line 3 of f: the record matches several shapes \['csqa', 'options'\]"):
        detect_format({"question": "x", "choices": [], "options": []}, "line 3 of f")
    with pytest.raises(InputError, match="matches no known shape .*Pass --format"):
        detect_format({"prompt": "x"}, "line 1 of f")


def test_two_to_eight_choices(tmp_path):
    data = write_jsonl(tmp_path / "o.jsonl", [{"id": "a", "question": "?", "options": list("abcdefghi"), "answer": 0}])
    with pytest.raises(InputError, match=r"line 1 of .*o.jsonl: `options` must have 2 to 8 items, got 9"):
        load_set(str(data))
    eight = write_jsonl(tmp_path / "e.jsonl", [{"id": "a", "question": "?", "options": list("abcdefgh"), "answer": 7}])
    assert load_set(str(eight)).questions[0].answer == "H"


def test_test_set_without_answer_keys_loads_with_answer_none(tmp_path):
    records = [csqa_record("q1"), csqa_record("q2")]
    for r in records:
        del r["answerKey"]
    records[1]["answerKey"] = ""  # the HF CSQA test split writes ""
    loaded = load_set(str(write_jsonl(tmp_path / "t.jsonl", records)))
    assert [q.answer for q in loaded.questions] == [None, None] and not loaded.labelled


def test_a_missing_key_among_labelled_records_is_an_error_with_file_and_line(tmp_path):
    records = [csqa_record("q1"), csqa_record("q2")]
    del records[1]["answerKey"]
    data = write_jsonl(tmp_path / "m.jsonl", records)
    with pytest.raises(InputError, match=r"line 2 of .*m.jsonl: `answerKey` is missing"):
        load_set(str(data))


def test_skip_invalid_counts_and_keeps_messages(tmp_path):
    data = write_jsonl(tmp_path / "bad.jsonl", [csqa_record("q1"), "{oops", csqa_record("q1"), csqa_record("q3", answer="Z")])
    with pytest.raises(InputError, match=r"line 2 of .*bad.jsonl: invalid JSON"):
        load_set(str(data))
    loaded = load_set(str(data), skip_invalid=True)
    assert [q.id for q in loaded.questions] == ["q1"] and len(loaded.skipped) == 3
    assert "line 3 of" in loaded.skipped[1] and "duplicates the question at line 1" in loaded.skipped[1]


def test_unknown_format_lists_the_valid_ones():
    with pytest.raises(InputError, match=r"unknown --format 'xml'. Valid formats are: \['auto', 'csqa'"):
        load_set("x.jsonl", format="xml")
