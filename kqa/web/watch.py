"""A graph folder as last committed, reopened when a writer (`kqa graph update`) commits while the page is open."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from kqa.errors import StoreError
from kqa.graph.store import MANIFEST, GraphStore

logger = logging.getLogger(__name__)


class GraphWatch:
    """Hand out the newest readable GraphStore of a folder.

    The store's manifest names the committed generation and log length, and a writer replaces it atomically, so
    comparing (generation, log_bytes) with the open store's tells whether a batch was committed since. A store that
    cannot be read (damaged, or a writer switching files) keeps the old one in use and says so in `note`.
    """

    def __init__(self, path: str | Path, store: GraphStore | None = None):
        self.path = Path(path)
        self._store = store if store is not None else GraphStore.open(self.path)
        self._failed: tuple | None = None
        self._lock = threading.Lock()
        self.note = ""  # why the graph shown is older than the one on disk ("" when it is current)

    def current(self) -> GraphStore:
        with self._lock:
            mark = _disk_mark(self.path)
            if mark is None or mark == _mark(self._store.manifest) or mark == self._failed:
                return self._store
            try:
                self._store = GraphStore.open(self.path)
                self.note = ""
                logger.info("graph %s changed on disk: reopened at generation %s", self.path, mark)
            except StoreError as exc:
                self._failed = mark
                self.note = f"the graph changed on disk but cannot be read yet ({exc}); showing the previous version"
                logger.warning("%s", self.note)
            return self._store


def _mark(manifest: dict) -> tuple:
    return manifest.get("generation"), manifest.get("log_bytes")


def _disk_mark(path: Path) -> tuple | None:
    try:
        return _mark(json.loads((path / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None  # gone or unreadable right now: keep serving what is open
