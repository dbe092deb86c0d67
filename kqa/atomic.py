"""Write a file so that a crash leaves either the old file or the new one, never half of either.

The content goes to a temp file beside the target, is fsync'ed, renamed over the target, and the folder is fsync'ed
so the rename itself survives a power cut. `atomic_folder` does the same for a folder built once (a model unpacked
or converted into the cache): readers see no folder or a complete one.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(target: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write(handle)` on a temp file opened for binary writing, then replace `target` with it."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(target.parent)


def atomic_text(target: str | Path, text: str) -> None:
    atomic_write(target, lambda handle: handle.write(text.encode("utf-8")))


def sync_folder(folder: Path) -> None:
    """fsync a folder, making the renames inside it durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the rename is still atomic
    finally:
        os.close(fd)


def atomic_folder(target: str | Path, build: Callable[[Path], Path]) -> Path:
    """`build(tmp)` fills a temp folder beside `target` and returns the folder to publish (tmp or one inside it),
    which is renamed to `target`. When another process published `target` first, its folder is kept and this one
    dropped; the caller checks that what it finds there is complete."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        built = build(tmp)
        try:
            os.replace(built, target)
        except OSError as exc:  # a lost race leaves target a non-empty folder; anything else is a real failure
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not target.is_dir():
                raise
        sync_folder(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
