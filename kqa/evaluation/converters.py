"""Question sets in several multiple-choice shapes -> `EvalSet`s of Questions (2-8 choices each).

Every shape is converted by a small pure function into the CSQA record that `kqa.data.parse_record` validates, so
errors keep naming the file, the line, the field and the value. A set in which *no* record has an answer key is a
test set: its questions get `answer=None` (predictions, no accuracy). A record missing its key in a set where others
have one is an error, because that is a typo more often than a design.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kqa.data import PACKAGED_SETS, collect_questions, jsonl_records, load_questions, parse_record
from kqa.errors import InputError, brief
from kqa.types import Question
from kqa.userinput import path_kind

MIN_CHOICES, MAX_CHOICES = 2, 8
LABELS = "ABCDEFGH"
ANSWER_FIELDS = ("answerKey", "answer", "label")


@dataclass(frozen=True)
class EvalSet:
    """One question set as evaluated: its name (as given on the command line), questions, and skipped records."""

    name: str
    questions: tuple[Question, ...]
    skipped: tuple[str, ...] = ()

    @property
    def labelled(self) -> bool:
        return any(q.answer is not None for q in self.questions)


def from_csqa(record: dict, where: str) -> dict:
    """CSQA (nested or flattened HF), OpenBookQA and ARC records are already in the shape parse_record reads."""
    return record


def from_options(record: dict, where: str) -> dict:
    """`{"id", "question", "options": [...], "answer": 0-based index | label}` -> CSQA record labelled A, B, ..."""
    options = record.get("options")
    if not isinstance(options, list):
        raise InputError(f"{where}: `options` must be a list of strings, got {brief(options)}.")
    labels = _labels(len(options), where, "options")
    out = {"id": record.get("id"), "question": record.get("question"),
           "choices": {"label": labels, "text": options}}
    if "answer" in record:
        out["answerKey"] = _answer_label(record["answer"], labels, where, "answer")
    return out


def from_piqa(record: dict, where: str) -> dict:
    """PIQA: `{"goal", "sol1", "sol2", "label": 0|1}` (ids are optional: the line number stands in)."""
    solutions = [record.get(f"sol{i}") for i in (1, 2)]
    out = {"id": record.get("id", _line_id(where)), "question": record.get("goal"),
           "choices": {"label": ["A", "B"], "text": solutions}}
    if "label" in record:
        out["answerKey"] = _answer_label(record["label"], ["A", "B"], where, "label")
    return out


def from_hellaswag(record: dict, where: str) -> dict:
    """HellaSwag: `{"ind"|"id", "ctx", "endings": [...], "label": index}`."""
    endings = record.get("endings")
    if not isinstance(endings, list):
        raise InputError(f"{where}: `endings` must be a list of strings, got {brief(endings)}.")
    labels = _labels(len(endings), where, "endings")
    out = {"id": record.get("id", record.get("ind", _line_id(where))), "question": record.get("ctx"),
           "choices": {"label": labels, "text": endings}}
    if "label" in record and record["label"] not in (None, ""):
        out["answerKey"] = _answer_label(record["label"], labels, where, "label")
    return out


CONVERTERS: dict[str, Callable[[dict, str], dict]] = {
    "csqa": from_csqa, "options": from_options, "piqa": from_piqa, "hellaswag": from_hellaswag,
}
FORMATS = ("auto", *CONVERTERS)


SIGNATURES: dict[str, Callable[[dict], bool]] = {
    "csqa": lambda r: isinstance(r.get("question"), dict) or "choices" in r,
    "options": lambda r: "options" in r,
    "piqa": lambda r: "goal" in r and "sol1" in r,
    "hellaswag": lambda r: "ctx" in r and "endings" in r,
}


def detect_format(record: dict, where: str) -> str:
    """The one shape whose distinctive keys the record has; an error when none or several match."""
    found = [name for name, matches in SIGNATURES.items() if matches(record)]
    if len(found) != 1:
        what = "no known shape" if not found else f"several shapes {sorted(found)}"
        raise InputError(f"{where}: the record matches {what} (keys {brief(sorted(record))}). "
                         f"Pass --format, one of {list(FORMATS)}.")
    return found[0]


def load_set(source: str, *, format: str = "auto", skip_invalid: bool = False, limit: int | None = None) -> EvalSet:
    """A packaged set name (csqa:validation, obqa:validation) or a JSONL file in any supported shape."""
    if format not in FORMATS:
        raise InputError(f"unknown --format {format!r}. Valid formats are: {list(FORMATS)}.")
    if source in PACKAGED_SETS:
        loaded = load_questions(source, skip_invalid=skip_invalid, limit=limit)
        return EvalSet(source, loaded.questions, loaded.skipped)
    if ":" in source and path_kind(Path(source))[0] == "missing":
        raise InputError(f"unknown question set {source!r}. Packaged sets: {sorted(PACKAGED_SETS)}; or pass a .jsonl path.")
    rows = list(jsonl_records(Path(source)))
    gold_less = not any(isinstance(r, dict) and _has_answer(r) for _, r in rows)
    loaded = collect_questions(rows, lambda row, where: _question(row, where, format, gold_less),
                               skip_invalid=skip_invalid, limit=limit)
    return EvalSet(source, loaded.questions, loaded.skipped)


def _question(row: object, where: str, format: str, gold_less: bool) -> Question:
    if isinstance(row, InputError):
        raise row
    if not isinstance(row, dict):
        raise InputError(f"{where}: a record must be a JSON object, got {type(row).__name__}.")
    name = detect_format(row, where) if format == "auto" else format
    record = dict(CONVERTERS[name](row, where))
    if gold_less:  # a test set: "" or a missing key both mean "unknown"
        record["answerKey"] = None
    question = parse_record(record, where)
    if not MIN_CHOICES <= len(question.choices) <= MAX_CHOICES:
        raise InputError(f"{where}: `choices` must number {MIN_CHOICES} to {MAX_CHOICES}, got {len(question.choices)}.")
    return question


def _has_answer(record: dict) -> bool:
    return any(record.get(k) not in (None, "") for k in ANSWER_FIELDS)


def _labels(n: int, where: str, field: str) -> list[str]:
    if not MIN_CHOICES <= n <= MAX_CHOICES:
        raise InputError(f"{where}: `{field}` must have {MIN_CHOICES} to {MAX_CHOICES} items, got {n}.")
    return list(LABELS[:n])


def _answer_label(answer: object, labels: list[str], where: str, field: str) -> str:
    """A 0-based index (int or digit string) or a label -> the label."""
    text = answer.strip() if isinstance(answer, str) else ""
    if text.isascii() and text.isdigit() and len(text) < 10:  # not "²" (a digit int() refuses) nor 5000 digits
        answer = int(text)
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(labels):
        return labels[answer]
    if isinstance(answer, str) and answer in labels:
        return answer
    raise InputError(f"{where}: `{field}` must be a 0-based index or one of {labels}, got {brief(answer)}.")


def _line_id(where: str) -> str:
    return where.split(" of ")[0].replace(" ", "-")  # "line 7 of x.jsonl" -> "line-7"
