"""predictions.jsonl as a crash-safe log: one sorted-keys JSON line per question, fsync'ed per chunk, resumable.

A run killed mid-write leaves at most one truncated last line; `PredictionLog.open(resume=True)` drops it (cuts the
file back to the last complete line) and returns the records already written, keyed by (source, id).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from kqa.atomic import atomic_text
from kqa.errors import ConfigError


def rounded(value, decimals: int):
    """Floats rounded (so reruns and worker counts give the same bytes), recursively through lists and dicts."""
    if isinstance(value, float):
        return round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, dict):
        return {k: rounded(v, decimals) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, decimals) for v in value]
    return value


def dumps(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def key(record: dict) -> tuple[str, str]:
    return record["source"], record["id"]


class PredictionLog:
    """Append-only JSONL file of records; `append` writes a chunk and makes it durable before returning."""

    def __init__(self, path: Path):
        self.path = path

    def open(self, resume: bool) -> dict[tuple[str, str], dict]:
        """Start the log (empty unless resuming) and return the complete records already in it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume or not self.path.exists():
            self.path.write_bytes(b"")
            return {}
        done: dict[tuple[str, str], dict] = {}
        good_bytes = 0
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # the truncated last line of a killed run: rewritten below
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError:
                    break
                done[key(record)] = record
                good_bytes += len(raw)
        if good_bytes != self.path.stat().st_size:
            with self.path.open("r+b") as handle:
                handle.truncate(good_bytes)
        return done

    def append(self, records: Iterable[dict]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(dumps(r) + "\n" for r in records)
            handle.flush()
            os.fsync(handle.fileno())

    def rewrite(self, records: Sequence[dict]) -> None:
        """Atomically replace the log with exactly `records` (used when a resumed log holds a different set/order)."""
        atomic_text(self.path, "".join(dumps(r) + "\n" for r in records))


def check_fingerprint(path: Path, fingerprint: dict, resume: bool) -> None:
    """run.json records what produced the predictions; --resume refuses to mix two different runs in one file."""
    if resume and path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        if changed:
            raise ConfigError(f"--resume: {path} was written by a different run (differs in {changed}); "
                              f"use another --out or drop --resume to start over.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fingerprint, indent=2, sort_keys=True) + "\n", encoding="utf-8")
