"""Read a corpus: a folder of .txt/.md files, one such file, or a JSONL file of {"id", "text"} records.

Bad input never stops a build: binary, empty, non-UTF-8 and oversized documents come back as `Skipped` with a reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kqa.errors import InputError, brief
from kqa.userinput import NotJSON, parse_json, path_kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawDocument:
    name: str  # path relative to the corpus folder, or the JSONL `id`
    text: str

    @property
    def id(self) -> str:
        return content_id(self.text)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def content_id(text: str) -> str:
    """Document id = hash of its content, so the same text read twice is recognised without parsing it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def read_corpus(path: str | Path, *, max_bytes: int, extensions: tuple[str, ...] = (".txt", ".md")
                ) -> Iterator[RawDocument | Skipped]:
    path = Path(path)
    kind, reason = path_kind(path)
    if kind == "folder":
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
        if not files:  # most likely the wrong folder: an empty graph would only fail later, at retrieval
            raise InputError(f"corpus folder {path} has no {'/'.join(extensions)} files (searched recursively). Put "
                             f"documents there, point at the right folder, or give a .jsonl with one "
                             f"{{\"id\", \"text\"}} record per line.")
        for file in files:
            yield _read_file(file, file.relative_to(path).as_posix(), max_bytes)
    elif kind == "unusable":
        raise InputError(f"corpus {brief(str(path))} cannot be opened: {reason}.")
    elif kind == "missing":
        raise InputError(f"corpus {path} does not exist; give a folder of {'/'.join(extensions)} files or a .jsonl.")
    elif path.suffix.lower() == ".jsonl":
        yield from _read_jsonl(path, max_bytes)
    else:
        yield _read_file(path, path.name, max_bytes)


def _read_file(file: Path, name: str, max_bytes: int) -> RawDocument | Skipped:
    size = file.stat().st_size
    if size > max_bytes:
        return Skipped(name, f"too large ({size} bytes > max_doc_bytes {max_bytes})")
    return _check(name, file.read_bytes())


def _check(name: str, data: bytes) -> RawDocument | Skipped:
    if b"\x00" in data[:8192]:
        return Skipped(name, "binary (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(name, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})")
    return _text(name, text)


def _text(name: str, text: str) -> RawDocument | Skipped:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return Skipped(name, "empty")
    return RawDocument(name, text)


def _read_jsonl(path: Path, max_bytes: int) -> Iterator[RawDocument | Skipped]:
    with open(path, "rb") as f:
        for n, (line, size) in enumerate(_lines(f, max_bytes), 1):
            if size <= max_bytes and not line.strip():
                continue
            where = f"{path.name}:{n}"
            if size > max_bytes:
                yield Skipped(where, f"too large ({size} bytes > max_doc_bytes {max_bytes})")
                continue
            yield _record(where, line)


def _lines(f, max_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(line, its size in bytes) per line; a line over `max_bytes` is measured, not held: memory stays bounded."""
    while line := f.readline(max_bytes + 1):
        size = len(line)
        if size > max_bytes:  # read the rest of the line in chunks, only to count it
            while not line.endswith(b"\n") and (line := f.readline(1 << 20)):
                size += len(line)
            line = b""
        yield line, size


def _record(where: str, line: bytes) -> RawDocument | Skipped:
    try:
        record = parse_json(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Skipped(where, f"not UTF-8 (byte 0x{line[exc.start]:02x} at offset {exc.start})")
    except NotJSON as exc:
        return Skipped(where, f"not JSON ({exc.reason})")
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return Skipped(where, "record needs a string `text` field")
    doc_id = record.get("id")
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or str(doc_id) == "":
        return Skipped(where, f"record needs an `id` (string or integer), got {brief(doc_id)}")
    if "\x00" in record["text"]:
        return Skipped(str(doc_id), "binary (contains NUL characters)")
    return _text(str(doc_id), record["text"])
