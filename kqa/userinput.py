"""What users hand kqa, checked before use: JSON text and file paths, each failing one way with a short reason.

`json.loads` fails in more ways than `JSONDecodeError`: a number of more than 4300 digits raises a bare ValueError,
deep nesting a RecursionError, and a `\\ud800` escape "succeeds" with a string no file, hash or tokenizer can encode.
`Path.is_file()` raises OSError for a name longer than the file system allows. Readers catch `NotJSON` and check
`path_kind` to raise their own error naming the file and line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

# a \uD800-\uDFFF escape: cheap pre-check, so only texts that have one pay for the full encodability walk below
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class NotJSON(ValueError):
    """The text is not JSON kqa can use: `reason` says why in a few words, `str(exc)` is "invalid JSON (reason)"."""

    def __init__(self, reason: str):
        super().__init__(f"invalid JSON ({reason})")
        self.reason = reason


def parse_json(text: str) -> object:
    """The value of one JSON text, or NotJSON (invalid syntax, overlong number, too deep, unpaired surrogate)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        raise NotJSON(f"{exc.msg} at {at}") from None
    except RecursionError:
        raise NotJSON("nested too deeply") from None
    except ValueError as exc:  # int() refuses numbers of more than 4300 digits
        raise NotJSON(str(exc).split(":")[0]) from None
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        raise NotJSON("a \\uD800-\\uDFFF escape without its pair is not a character")
    return value


def _encodable(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError, ValueError):
        return False
    return True


def path_kind(path: Path) -> tuple[Literal["file", "folder", "missing", "unusable"], str]:
    """What is at a path a user gave, and for "unusable" the system's reason (e.g. "File name too long")."""
    try:
        if path.is_dir():
            return "folder", ""
        return ("file", "") if path.is_file() else ("missing", "")
    except OSError as exc:  # pathlib ignores only "no such file"-like errors
        return "unusable", exc.strerror or str(exc)
