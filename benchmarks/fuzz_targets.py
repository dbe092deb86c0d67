"""kqa's entry points as fuzz targets: each `run` feeds one generated input (benchmarks.fuzz_inputs) and says whether
kqa succeeded, refused it with its own error naming where (file, line or field), or let something else escape.

A target owns a work folder and rewrites its files per input; nothing loads a language model or spaCy.
"""

from __future__ import annotations

import json
import random
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import fuzz_inputs as inputs
from kqa.errors import KQAError


class Broken(AssertionError):
    """A call returned, but what it returned breaks a promise (a lone surrogate in a question, a lost record)."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # "succeeded" | "refused" (a KQAError naming where) | "escaped" (anything else)
    detail: str = ""


def attempt(call: Callable[[], object], *locations: str) -> Outcome:
    """Run one input; a KQAError counts as refused only when its message names one of `locations`."""
    try:
        call()
    except KQAError as exc:
        if any(place in str(exc) for place in locations):
            return Outcome("refused", str(exc)[:300])
        return Outcome("escaped", f"{type(exc).__name__} naming none of {locations}: {str(exc)[:300]}")
    except Exception as exc:  # noqa: BLE001  (what escapes is what we count)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return Outcome("escaped", f"{type(exc).__name__}: {str(exc)[:200]} (at {Path(frame.filename).name}:"
                                  f"{frame.lineno} {frame.name})")
    return Outcome("succeeded")


def named(path: Path) -> str:
    """What a message must show of `path`: all of it, or of a name too long to quote, its start."""
    return str(path) if len(str(path)) <= 200 else str(path)[:60]


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def write(path: Path, data: bytes | None) -> None:
    """Write `data`, or leave the file out when it is None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        path.write_bytes(data)


def records_in(data: bytes) -> int:
    """Lines a JSONL reader must account for: every line that is not blank (an undecodable one counts)."""
    count = 0
    for raw in data.split(b"\n"):
        try:
            count += bool(raw.decode("utf-8").strip())
        except UnicodeDecodeError:
            count += 1
    return count


def check_questions(questions, skipped, data: bytes | None, path: Path) -> None:
    """Loaded questions are whole and writable; with skip_invalid (`data` given) every record is kept or counted."""
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise Broken(f"duplicate ids loaded: {ids}")
    for q in questions:
        texts = [q.id, q.stem, q.concept or "", *(c.label for c in q.choices), *(c.text for c in q.choices)]
        "\n".join(texts).encode("utf-8")  # a lone surrogate raises UnicodeEncodeError: escaped
        if len(q.choices) < 2 or (q.answer is not None and q.answer not in q.labels):
            raise Broken(f"question {q.id!r} has {len(q.choices)} choices and answer {q.answer!r}")
    if data is not None:
        if len(questions) + len(skipped) != records_in(data):
            raise Broken(f"{len(questions)} loaded + {len(skipped)} skipped != {records_in(data)} records")
        unnamed = [s for s in skipped if str(path) not in s]
        if unnamed:
            raise Broken(f"a skipped record's message names no file: {unnamed[0][:200]}")


class Target:
    """One entry point family; `run(rng)` tries one input."""

    name = ""

    def __init__(self, workdir: Path):
        self.workdir = fresh(Path(workdir) / self.name)

    def run(self, rng: random.Random) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        """Release what __init__ holds beyond the work folder (the web target's event loop)."""


class QuestionFiles(Target):
    """kqa.data.load_questions on CSQA JSONL (nested, flattened, OpenBookQA), strict or with skip_invalid."""

    name = "questions"

    def run(self, rng: random.Random) -> Outcome:
        from kqa.data import load_questions

        path = self.workdir / "questions.jsonl"
        data = inputs.join_lines(inputs.question_lines(rng), rng)
        path.write_bytes(data)
        path, skip = inputs.odd_path(rng, path), rng.random() < 0.5

        def call():
            loaded = load_questions(path, skip_invalid=skip)
            check_questions(loaded.questions, loaded.skipped, data if skip else None, path)

        return attempt(call, named(path))


class ConvertedSets(Target):
    """kqa.evaluation.converters.load_set (what `kqa eval` reads) with every --format, shapes matching or not."""

    name = "converters"

    def run(self, rng: random.Random) -> Outcome:
        from kqa.evaluation.converters import FORMATS, load_set

        fmt = rng.choice(FORMATS)
        every = tuple(s for shapes in inputs.SHAPES_OF_FORMAT.values() for s in shapes)
        shapes = every if fmt == "auto" or rng.random() < 0.2 else inputs.SHAPES_OF_FORMAT[fmt]
        path = self.workdir / "set.jsonl"
        data = inputs.join_lines(inputs.question_lines(rng, shapes), rng)
        path.write_bytes(data)
        path, skip = inputs.odd_path(rng, path), rng.random() < 0.5

        def call():
            loaded = load_set(str(path), format=fmt, skip_invalid=skip)
            check_questions(loaded.questions, loaded.skipped, data if skip else None, path)
            if any(not 2 <= len(q.choices) <= 8 for q in loaded.questions):
                raise Broken("a converted question has fewer than 2 or more than 8 choices")

        return attempt(call, named(path))


class Corpora(Target):
    """kqa.graph.corpus.read_corpus on folders of .txt/.md, single files, JSONL {id, text} and missing paths."""

    name = "corpus"
    max_bytes = 2048

    def run(self, rng: random.Random) -> Outcome:
        from kqa.graph.corpus import RawDocument, read_corpus

        root = fresh(self.workdir / "in")
        path = inputs.odd_path(rng, self._make(root, rng))

        def call():
            for item in read_corpus(path, max_bytes=self.max_bytes):
                if isinstance(item, RawDocument):
                    item.name.encode("utf-8"), item.id  # evaluated for what they raise: the id hashes UTF-8
                    if not item.text or item.text != item.text.strip():
                        raise Broken(f"document {item.name!r} has text {item.text[:40]!r}")
                elif not item.reason:
                    raise Broken(f"{item.name!r} skipped without a reason")

        return attempt(call, named(path))

    def _make(self, root: Path, rng: random.Random) -> Path:
        mode = rng.randrange(5)
        if mode == 0:
            for name in rng.sample(inputs.CORPUS_NAMES, rng.randrange(5)):
                write(root / name, inputs.document_bytes(rng, self.max_bytes))
            return root
        if mode == 1:
            path = root / rng.choice(("doc.txt", "doc.md"))
            write(path, inputs.document_bytes(rng, self.max_bytes))
            return path
        if mode == 2:
            path = root / "docs.jsonl"
            write(path, inputs.join_lines(inputs.corpus_lines(rng, self.max_bytes), rng))
            return path
        if mode == 3:
            return root / rng.choice(("missing", "missing.jsonl", "missing.txt"))
        write(root / "notes.bak", b"fish")
        return root


class PipelineConfigs(Target):
    """kqa.config.load_config on pipeline YAML files (and on dicts, as the Python API takes them)."""

    name = "config"

    def __init__(self, workdir: Path):
        from kqa.config import PipelineConfig

        super().__init__(workdir)
        self.valid = PipelineConfig().model_dump(mode="json")

    def run(self, rng: random.Random) -> Outcome:
        from kqa.config import load_config

        if rng.random() < 0.2:  # the Python API: a mutated dict, whose root may have become a string (a path)
            source = inputs.mutate_value(self.valid, rng)
            return attempt(lambda: load_config(source), "config: `", "config: the top level", named(Path(str(source))))
        path = self.workdir / "pipeline.yaml"
        path.write_bytes(inputs.pipeline_yaml(rng, self.valid))
        path = inputs.odd_path(rng, path)
        return attempt(lambda: load_config(path), named(path))


class AdapterFolders(Target):
    """kqa.adapters.saving.read_meta / read_adapter (no backbone built) on missing, truncated or foreign files."""

    name = "adapter"

    def __init__(self, workdir: Path):
        import numpy as np
        from safetensors.numpy import save

        from kqa.adapters.config import AdapterConfig

        super().__init__(workdir)
        adapter = AdapterConfig(backbone="fuzz-backbone", width=32, heads=4)
        self.meta = {"kqa_version": "0.1.0", "method": adapter.method, "adapter": adapter.model_dump(mode="json"),
                     "backbone": {"name": "fuzz-backbone", "sha256": None}, "graph_checksum": "c0ffee", "init_seed": 3,
                     "training": {"steps": 4, "train": {"seed": 3, "max_length": 64},
                                  "long_context": {"enabled": False, "target_length": None}}}
        self.weights = save({"head.0.weight": np.zeros((2, 2), np.float32), "gated.gate": np.ones(3, np.float32)})
        self.foreign = save({"encoder.layer.0.weight": np.zeros(4, np.float32)})

    def run(self, rng: random.Random) -> Outcome:
        from kqa.adapters.saving import CONFIG, WEIGHTS, long_context_settings, read_adapter, read_meta

        folder = fresh(self.workdir / "saved")
        write(folder / CONFIG, inputs.json_file(rng, self.meta, rng.choice(({"model_type": "bert"}, [], "x", 3))))
        write(folder / WEIGHTS, inputs.folder_file(rng, self.weights, self.foreign))

        def read_all():
            saved = read_adapter(folder, check_backbone=False)
            saved.init_seed, saved.reference_config, long_context_settings(saved.meta)  # what load_model reads

        folder = inputs.odd_path(rng, folder)
        return attempt(read_all if rng.random() < 0.7 else lambda: read_meta(folder), named(folder))


class IndexFolders(Target):
    """kqa.retrieval.index.read_manifest / FactIndex.load (no embedder) on damaged index folders.

    The manifest records index.faiss's SHA-256, checked before faiss reads the file, so index.faiss's bytes may be
    flipped. Not so when the manifest written lacks the true hash (a manifest from before kqa recorded it, or one the
    mutation changed): faiss then reads the file unchecked and trusts the sizes written in it, and a flipped one can
    make it allocate until the machine runs out of memory, so the file is only cut or replaced.
    """

    name = "index"
    checksum = "c" * 64

    def __init__(self, workdir: Path):
        import hashlib

        import faiss
        import numpy as np

        super().__init__(workdir)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(4))
        index.add_with_ids(np.eye(4, dtype=np.float32)[:3], np.array([1, 2, 3], dtype=np.int64))
        self.faiss = faiss.serialize_index(index).tobytes()
        self.manifest = {"faiss_version": faiss.__version__, "factory": "Flat", "embedder": "minilm-l6",
                         "dimension": 4, "count": 3, "graph_checksum": self.checksum, "metric": "inner_product",
                         "index_sha256": hashlib.sha256(self.faiss).hexdigest()}

    def run(self, rng: random.Random) -> Outcome:
        from kqa.retrieval.index import INDEX_DIR, FactIndex, IndexConfig, read_manifest

        graph = fresh(self.workdir / "graph")
        folder = graph / INDEX_DIR
        legacy = rng.random() < 0.3  # written before the manifest recorded index_sha256
        manifest = {k: v for k, v in self.manifest.items() if not (legacy and k == "index_sha256")}
        manifest_bytes = inputs.json_file(rng, manifest, {"files": []})
        write(folder / "manifest.json", manifest_bytes)
        write(folder / "tombstones.json", inputs.json_file(rng, [], {"ids": []}))
        vouched = self._vouches(manifest_bytes)
        write(folder / "index.faiss", inputs.folder_file(rng, self.faiss, b"{}", cut_only=not vouched))
        graph = inputs.odd_path(rng, graph)
        if rng.random() < 0.3:
            return attempt(lambda: read_manifest(graph), named(graph))
        return attempt(lambda: FactIndex.load(graph, IndexConfig(), embedder="minilm-l6",
                                              graph_checksum=self.checksum), named(graph))

    def _vouches(self, manifest: bytes | None) -> bool:
        """Whether the manifest holds index.faiss's true SHA-256: only then are its bytes checked before faiss."""
        try:
            value = json.loads(manifest) if manifest is not None else None
        except (ValueError, RecursionError):
            return False
        return isinstance(value, dict) and value.get("index_sha256") == self.manifest["index_sha256"]


class VocabularyFiles(Target):
    """kqa.graph.importers.read_vocabulary on .txt term lists (what `kqa graph import wordnet --vocabulary` reads)."""

    name = "vocabulary"

    def run(self, rng: random.Random) -> Outcome:
        from kqa.graph.importers import read_vocabulary

        path = self.workdir / "terms.txt"
        path.write_bytes(inputs.vocabulary_bytes(rng))
        path = inputs.odd_path(rng, path)
        return attempt(lambda: read_vocabulary(path), named(path))


def check_document(doc, malformed: int) -> None:
    """An imported Document a graph can store: named ends and relation, a finite confidence, encodable text."""
    import math

    if malformed < 0:
        raise Broken(f"{malformed} malformed lines")
    for t in doc.triples:
        if not (t.head and t.relation and t.tail) or not math.isfinite(t.confidence):
            raise Broken(f"triple {t!r} has an empty name or a confidence that is not finite")
        f"{t.head}\t{t.relation}\t{t.tail}\t{t.sentence}".encode()  # a lone surrogate: escaped


class ConceptNetFiles(Target):
    """kqa.graph.conceptnet.ConceptNetImporter(path, fmt).run() on ConceptNet 5 CSV (.csv, .csv.gz) and ConceptNet 4
    (.graph.gz) files; one input in five imports the file into a new graph (import_conceptnet4 or
    import_conceptnet), which a refused file must leave uncreated."""

    name = "conceptnet"

    def run(self, rng: random.Random) -> Outcome:
        from kqa.graph.conceptnet import CONCEPTNET4_GRAPH, CONCEPTNET5_CSV, ConceptNetImporter

        version = rng.choice((4, 5))
        name = "conceptnet_en.graph.gz" if version == 4 else rng.choice(("assertions.csv", "assertions.csv.gz"))
        path = fresh(self.workdir / "in") / name
        data = inputs.conceptnet_text(rng, version)
        path.write_bytes(inputs.gzipped(data, rng) if name.endswith(".gz") else data)
        path = inputs.odd_path(rng, path)
        if rng.random() < 0.2:
            return attempt(lambda: self._import(version, path, self.workdir / "graph"), named(path))
        fmt = CONCEPTNET4_GRAPH if version == 4 else CONCEPTNET5_CSV
        return attempt(lambda: check_document(*ConceptNetImporter(path, fmt).run()), named(path))

    @staticmethod
    def _import(version: int, path: Path, graph: Path) -> None:
        from kqa.graph.importers import import_conceptnet, import_conceptnet4
        from kqa.graph.store import GraphStore

        shutil.rmtree(graph, ignore_errors=True)
        try:
            if version == 4:
                import_conceptnet4(graph, path=path, progress=False)
            else:
                import_conceptnet(graph, path)
        except KQAError:
            if graph.exists():
                raise Broken(f"the file was refused, but {graph} was created") from None
            raise
        with GraphStore.open(graph) as store:  # what was written reads back
            store.stats()
