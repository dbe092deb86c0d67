"""Question files (both CSQA shapes, OpenBookQA, every `--format`): load, or an InputError naming file and line."""

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import ConvertedSets, QuestionFiles
from kqa.data import load_questions, question_from_text
from kqa.errors import InputError
from kqa.evaluation.converters import load_set
from tests.conftest import csqa_record, write_jsonl
from tests.fuzz import FUZZ


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    return QuestionFiles(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return ConvertedSets(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_question_files_load_or_name_the_line(questions, rng):
    outcome = questions.run(rng)
    assert outcome.kind != "escaped", outcome.detail


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_every_format_loads_or_names_the_line(converted, rng):
    outcome = converted.run(rng)
    assert outcome.kind != "escaped", outcome.detail


# ---- regressions: each input below once escaped as a TypeError, ValueError or RecursionError -----------------------
def with_second(tmp_path, second, name="q.jsonl"):
    return write_jsonl(tmp_path / name, [csqa_record("q1"), second, csqa_record("q3")])


def test_a_list_answer_key_is_refused_and_skipped_not_a_type_error(tmp_path):  # issue #20's first report
    path = with_second(tmp_path, {**csqa_record("q2"), "answerKey": [None]})
    with pytest.raises(InputError, match=r"line 2 of .*q\.jsonl: `answerKey` \[None\] is not one of the choice labels"):
        load_questions(path)
    loaded = load_questions(path, skip_invalid=True)
    assert [q.id for q in loaded.questions] == ["q1", "q3"] and len(loaded.skipped) == 1
    evaluated = load_set(str(path), skip_invalid=True)  # what `kqa eval --skip-invalid` reads
    assert [q.id for q in evaluated.questions] == ["q1", "q3"]


@pytest.mark.parametrize("line, reason", [
    ('{"id": ' + "9" * 5000 + "}", r"invalid JSON \(Exceeds the limit \(4300 digits\)"),
    ("[" * 100_000, r"invalid JSON \(nested too deeply\)"),
])
def test_json_that_python_cannot_build_is_invalid_json_with_its_line(tmp_path, line, reason):
    path = with_second(tmp_path, line)
    with pytest.raises(InputError, match=r"line 2 of .*q\.jsonl: " + reason):
        load_questions(path)
    assert len(load_questions(path, skip_invalid=True).questions) == 2


@pytest.mark.parametrize("second, message", [
    ({**csqa_record("q2", nested=False), "question": "Where?\ud800"},
     r"invalid JSON \(a \\uD800-\\uDFFF escape without its pair is not a character\)"),
    ({**csqa_record("q2"), "id": True}, r"`id` must be a non-empty string, got True"),
    ({**csqa_record("q2", nested=False), "question_concept": ["fish"]},
     r"`question_concept` must be a non-empty string, got \['fish'\]"),
])
def test_values_of_the_wrong_type_or_no_unicode_name_their_field(tmp_path, second, message):
    path = with_second(tmp_path, second)
    with pytest.raises(InputError, match=r"line 2 of .*q\.jsonl: " + message):
        load_questions(path)


@pytest.mark.parametrize("choices, field", [(["aquarium", "desert\ud800"], r"choices\[1\]\.text"),
                                             (["aquarium\udcff", "desert"], r"choices\[0\]\.text")])
def test_a_lone_surrogate_from_the_api_names_its_field(choices, field):
    """The web page and `kqa ask` build questions without JSON files: parse_record itself refuses unwritable text."""
    with pytest.raises(InputError, match=rf"the command line: `{field}` holds '\\ud[8c]..' at position \d+, half of"):
        question_from_text("Where is the fish?", choices)


def test_numeric_ids_and_blank_concepts_still_load(tmp_path):
    path = with_second(tmp_path, {**csqa_record("q2", nested=False), "id": 7, "question_concept": " "})
    second = load_questions(path).questions[1]
    assert second.id == "7" and second.concept is None


@pytest.mark.parametrize("answer, label", [(1, "B"), ("1", "B"), (" 01", "B"), ("B", "B")])
def test_options_answers_as_index_digit_string_or_label(tmp_path, answer, label):
    path = write_jsonl(tmp_path / "o.jsonl", [{"id": "o1", "question": "Q?", "options": ["a", "b"], "answer": answer}])
    assert load_set(str(path)).questions[0].answer == label


@pytest.mark.parametrize("answer", ["²", "١", "9" * 5000, True, [1], 1.0])
def test_options_answers_int_cannot_read_are_refused_naming_the_field(tmp_path, answer):
    path = write_jsonl(tmp_path / "o.jsonl", [{"id": "o1", "question": "Q?", "options": ["a", "b"], "answer": answer}])
    with pytest.raises(InputError, match=r"line 1 of .*o\.jsonl: `answer` must be a 0-based index or one of"):
        load_set(str(path))


def test_a_record_with_100000_equal_labels_is_refused_in_linear_time(tmp_path):
    record = {"id": "q1", "question": "Q?", "choices": {"label": ["A"] * 100_000, "text": ["x"] * 100_000},
              "answerKey": "A"}
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(record) + "\n")
    began = time.perf_counter()
    with pytest.raises(InputError, match=r"`choices\.label` must be unique, got duplicates \['A'\]"):
        load_questions(path)
    assert time.perf_counter() - began < 10  # labels.count() per label took minutes


def test_messages_quote_a_huge_value_briefly(tmp_path):
    path = with_second(tmp_path, {**csqa_record("q2"), "answerKey": "x" * 1_000_000})
    with pytest.raises(InputError) as caught:
        load_questions(path)
    assert "(1000002 characters)" in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize("load", [load_questions, load_set], ids=["load_questions", "load_set"])
def test_a_file_name_too_long_for_the_file_system_is_an_input_error(tmp_path, load):
    path = tmp_path / ("x" * 300 + ".jsonl")  # Path.is_file() raised OSError (ENAMETOOLONG)
    with pytest.raises(InputError, match=r"question file '.*xxx\.\.\. \(\d+ characters\) cannot be opened: File name"):
        load(str(path))
