"""Dense fact index: verbalized graph edges embedded with a sentence-transformers model, searched with FAISS.

On disk, beside the graph:  <graph>/index/index.faiss, manifest.json, tombstones.json
The manifest names the faiss version, factory string, embedder, dimension, vector count, the checksum of the edge
set it was built from and the SHA-256 of index.faiss; an index that does not match its graph or embedder, or whose
files are damaged, is refused rather than silently used.
The factory is the config's, but a 'Flat' index of `hnsw_min_facts` facts or more is built as HNSW (exact search
grows with the graph: tens of ms per question on ConceptNet).
Updates are incremental: added edges are embedded and added, removed ones deleted (`remove_ids`), or, for HNSW,
which cannot delete, tombstoned and filtered out of results until the next full build.
The corpus sentences (retrieval.sentences) are a second index of the same kind at <graph>/index/sentences/, whose
ids are sentence ids (kqa/retrieval/sentences.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError, field_validator
from pydantic.dataclasses import dataclass as checked_dataclass

from kqa.errors import ConfigError, StoreError, brief
from kqa.models import ONNX_EMBEDDERS
from kqa.userinput import NotJSON, parse_json, path_kind

logger = logging.getLogger(__name__)

INDEX_DIR = "index"
SENTENCE_DIR = "index/sentences"  # the sentence index (retrieval.sentences): the same files, ids of sentences
HNSW_FACTORY = "HNSW32,Flat"  # what a big 'Flat' index is built as (IndexConfig.hnsw_min_facts)


class IndexConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    factory: str = Field("Flat", description="FAISS index_factory string: 'Flat', 'HNSW32,Flat', 'IVF256,Flat', ... "
                         "'Flat' (exact) turns into HNSW from `hnsw_min_facts` facts on.")
    embedder: str = Field("minilm-l6", description="sentence-transformers model: short name, local path or hub id; "
                          "or minilm-l6-int8, MiniLM on onnxruntime with int8 weights (1.42x faster, kqa[onnx]).")
    batch_size: int = Field(256, gt=0, description="Sentences per encode call while building.")
    nprobe: int = Field(16, gt=0, description="IVF lists visited per search (IVF factories only).")
    ef_search: int = Field(64, gt=0, description="HNSW search breadth (HNSW factories only).")
    hnsw_min_facts: int | None = Field(
        50_000, gt=0, description="With `factory` 'Flat', an index of at least this many facts is built as "
        f"{HNSW_FACTORY!r} (faiss IndexHNSWFlat): exact search costs ~0.14 ms per 1,000 facts and question (5 "
        "queries, 2 cores), ~65 ms on ConceptNet 4's ~470k facts; HNSW ~1 ms, approximate (see `ef_search`). "
        "Smaller indexes stay exact; null keeps 'Flat' at every size. Decided when the index is built: loading "
        "follows the `factory` its manifest records, so indexes built before load as they were.")

    @field_validator("factory")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if not value.split(",")[0].startswith(("Flat", "HNSW", "IVF")):
            raise ValueError("must start with Flat, HNSW<M> or IVF<nlist> (e.g. 'Flat', 'HNSW32,Flat', 'IVF256,Flat')")
        return value

    def factory_for(self, count: int) -> str:
        """The factory an index of `count` facts is built with: `factory`, or HNSW for a big 'Flat' one."""
        if self.factory == "Flat" and self.hnsw_min_facts is not None and count >= self.hnsw_min_facts:
            return HNSW_FACTORY
        return self.factory


@checked_dataclass(frozen=True)  # a dataclass still (asdict, replace), its fields validated
class IndexManifest:
    """manifest.json, checked field by field when read: strict types, so a hand-edited "3" or a list where the
    checksum belongs is refused here, not met later in a comparison. Keys kqa does not know are ignored."""

    faiss_version: StrictStr
    factory: StrictStr
    embedder: StrictStr
    dimension: Annotated[StrictInt, Field(gt=0)]
    count: Annotated[StrictInt, Field(ge=0)]
    graph_checksum: StrictStr
    metric: StrictStr = "inner_product"  # on L2-normalized embeddings: cosine similarity
    # SHA-256 of index.faiss, set by `save`. faiss trusts the sizes written in the file (a flipped byte can make it
    # allocate until memory runs out), so the bytes are checked before faiss reads them. None: an index written
    # before kqa recorded it, loaded unchecked so that existing indexes keep working.
    index_sha256: Annotated[StrictStr | None, Field(pattern=r"^[0-9a-f]{64}$")] = None


MANIFEST = "manifest.json"
TOMBSTONES = "tombstones.json"
FAISS_FILE = "index.faiss"
_MANIFEST = TypeAdapter(IndexManifest)
_TOMBSTONES = TypeAdapter(list[Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]])  # FAISS ids are int64


def edge_set_checksum(triple_ids: Iterable[str]) -> str:
    """Order-independent checksum of the indexed edge ids: what the index must agree with."""
    digest = hashlib.sha256()
    for tid in sorted(triple_ids):
        digest.update(tid.encode())
    return digest.hexdigest()


def to_int64(triple_id: str) -> int:
    """Triple ids are 16 hex digits (64 bits): reinterpret them as a signed int64 FAISS id."""
    value = int(triple_id, 16)
    return value - (1 << 64) if value >= (1 << 63) else value


def to_triple_id(value: int) -> str:
    return format(value + (1 << 64) if value < 0 else value, "016x")


class Embedder:
    """A sentence-transformers model loaded on first use, giving L2-normalized float32 vectors."""

    def __init__(self, name: str, batch_size: int = 256):
        self.name = name
        self.batch_size = batch_size
        self._model = None

    def warm_up(self):
        if self._model is None and self.name in ONNX_EMBEDDERS:  # int8 MiniLM on onnxruntime (kqa[onnx])
            from kqa.retrieval.onnx_embed import OnnxSentenceEncoder

            self._model = OnnxSentenceEncoder(self.name)
        elif self._model is None:
            from sentence_transformers import SentenceTransformer

            from kqa.models import resolve_model

            self._model = SentenceTransformer(resolve_model(self.name), device="cpu")
        return self._model

    @property
    def dimension(self) -> int:
        return self.warm_up().get_embedding_dimension()

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        model = self.warm_up()
        vectors = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)  # (N, dim)


class FactIndex:
    """FAISS index over edge ids; `search` returns (triple id, cosine) pairs."""

    def __init__(self, index, manifest: IndexManifest, tombstones: set[int], config: IndexConfig):
        self.index = index
        self.manifest = manifest
        self.tombstones = tombstones
        self.config = config
        self._tune()

    # ---- building and updating ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str], embedder: Embedder, config: IndexConfig,
              progress: bool = False) -> FactIndex:
        import faiss

        vectors = embedder.encode(texts, progress=progress)  # (N, dim)
        dim = embedder.dimension
        factory = config.factory_for(len(ids))
        try:
            inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ConfigError(f"`index.factory` {factory!r} is not a valid FAISS factory string: {exc}") from None
        index = faiss.IndexIDMap(inner) if _is_hnsw(factory) else faiss.IndexIDMap2(inner)
        if not index.is_trained:
            nlist = getattr(inner, "nlist", 1)
            if len(vectors) < nlist:  # FAISS's own error would be a RuntimeError from k-means
                raise ConfigError(f"`index.factory` {factory!r} clusters into {nlist} lists, which needs at least "
                                  f"{nlist} facts to train on; there are {len(vectors)}: use fewer lists (IVF<n>) or "
                                  f"`index.factory: Flat`.")
            if len(vectors) < 39 * nlist:
                logger.warning("IVF training on %d vectors for %s: fewer than 39 per list", len(vectors), factory)
            index.train(vectors)
        index.add_with_ids(vectors, np.array([to_int64(i) for i in ids], dtype=np.int64))
        manifest = IndexManifest(faiss.__version__, factory, embedder.name, int(dim), int(index.ntotal),
                                 edge_set_checksum(ids))  # index_sha256: known once `save` has written the file
        return cls(index, manifest, set(), config.model_copy(update={"factory": factory}))

    def update(self, added_ids: Sequence[str], added_texts: Sequence[str], removed: Sequence[str],
               embedder: Embedder, graph_checksum: str) -> None:
        """Apply one graph change: embed and add new edges, delete (or tombstone) removed ones."""
        removed_ints = np.array([to_int64(i) for i in removed], dtype=np.int64)
        if len(removed_ints):
            if _is_hnsw(self.manifest.factory):
                self.tombstones.update(int(i) for i in removed_ints)
            else:
                self.index.remove_ids(removed_ints)
        if added_ids:
            ints = [to_int64(i) for i in added_ids]
            # re-added after a removal: an HNSW index still holds its vector (the same id, the same text): alive again
            revived = self.tombstones.intersection(ints)
            self.tombstones.difference_update(revived)
            fresh = [(i, text) for i, text in zip(ints, added_texts) if i not in revived]
            if fresh:
                vectors = embedder.encode([text for _, text in fresh])  # (N, dim)
                self.index.add_with_ids(vectors, np.array([i for i, _ in fresh], dtype=np.int64))
        count = self.index.ntotal - len(self.tombstones)
        self.manifest = replace(self.manifest, count=count, graph_checksum=graph_checksum)

    def held(self, ids: Iterable[str]) -> list[str]:
        """Those of `ids` the index holds (alive): a removed graph edge that was never retrievable (a negation) was
        never indexed, and must neither be deleted nor counted."""
        import faiss

        alive = set(faiss.vector_to_array(self.index.id_map).tolist()) - self.tombstones
        return [i for i in ids if to_int64(i) in alive]

    # ---- searching ---------------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """queries: (Q, dim) normalized. Returns up to k (triple id, cosine) per query, best first."""
        fetch = k + min(len(self.tombstones), 4 * k)  # over-fetch so tombstoned hits can be dropped
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), fetch)  # (Q, fetch)
        results = []
        for row_scores, row_ids in zip(scores, ids):
            hits = [(to_triple_id(int(i)), float(s)) for s, i in zip(row_scores, row_ids)
                    if i != -1 and int(i) not in self.tombstones]
            results.append(hits[:k])
        return results

    def _tune(self) -> None:
        import faiss

        inner = faiss.downcast_index(self.index.index)
        if hasattr(inner, "nprobe"):
            inner.nprobe = self.config.nprobe
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.config.ef_search

    # ---- disk --------------------------------------------------------------------------------------------------
    def save(self, graph_dir: str | Path, folder: str = INDEX_DIR) -> Path:
        """Write the three files to GRAPH/`folder`; the manifest, written last, records index.faiss's SHA-256 and
        vouches for both."""
        import faiss

        where = Path(graph_dir) / folder
        where.mkdir(parents=True, exist_ok=True)
        tmp = where / (FAISS_FILE + ".tmp")
        faiss.write_index(self.index, str(tmp))
        _fsync_file(tmp)
        digest = _sha256(tmp)
        os.replace(tmp, where / FAISS_FILE)
        write_json(where / TOMBSTONES, sorted(self.tombstones))
        self.manifest = replace(self.manifest, index_sha256=digest)
        write_json(where / MANIFEST, asdict(self.manifest))  # last: it vouches for the files above
        return where

    @classmethod
    def load(cls, graph_dir: str | Path, config: IndexConfig, *, embedder: str, graph_checksum: str | None,
             folder: str = INDEX_DIR) -> FactIndex:
        """Load and check the index at GRAPH/`folder`; refuse one built for another graph or embedder, or damaged.
        `graph_checksum` None: the caller checks the item set itself (an update, see `held`)."""
        import faiss

        fix = _rebuild(graph_dir, folder)
        manifest = read_manifest(graph_dir, folder)
        where = Path(graph_dir) / folder
        if manifest.embedder != embedder:
            raise StoreError(f"{where}: the index was built with embedder {manifest.embedder!r} but the pipeline "
                             f"uses {embedder!r}. {fix}")
        if graph_checksum is not None and manifest.graph_checksum != graph_checksum:
            raise StoreError(f"{where}: the index is out of date with the graph ({_items(folder)} checksum "
                             f"{manifest.graph_checksum[:12]} != {graph_checksum[:12]}). {fix}")
        tombstones = read_tombstones(graph_dir, folder)
        _check_faiss_file(where / FAISS_FILE, manifest.index_sha256, fix)
        try:
            index = faiss.read_index(str(where / FAISS_FILE))
        except RuntimeError as exc:
            raise StoreError(f"{where / FAISS_FILE}: not a readable FAISS index ({exc}). {fix}") from None
        if index.ntotal - len(tombstones) != manifest.count or index.d != manifest.dimension:
            raise StoreError(f"{where}: index.faiss holds {index.ntotal - len(tombstones)} vectors of dimension "
                             f"{index.d}, the manifest says {manifest.count} of {manifest.dimension}. {fix}")
        config = config.model_copy(update={"factory": manifest.factory, "embedder": manifest.embedder})
        return cls(index, manifest, tombstones, config)


def read_manifest(graph_dir: str | Path, folder: str = INDEX_DIR) -> IndexManifest:
    """The checked manifest.json of the index at GRAPH/`folder`; a StoreError naming the file when there is none or
    it is not one kqa wrote."""
    path = Path(graph_dir) / folder / MANIFEST
    fix = _rebuild(graph_dir, folder)
    if path_kind(path)[0] == "missing":
        what = "sentence" if folder == SENTENCE_DIR else "fact"
        raise StoreError(f"no {what} index at {path.parent}. Build it: {fix.removeprefix('Rebuild it: ')}")
    value = _read_json(path, fix)
    try:
        return _MANIFEST.validate_python(value)
    except ValidationError as exc:
        raise StoreError(f"{path}: not a kqa index manifest: {_problems(exc)}. {fix}") from None


def read_tombstones(graph_dir: str | Path, folder: str = INDEX_DIR) -> set[int]:
    """The FAISS ids of deleted items an HNSW index still holds (tombstones.json: a list of int64)."""
    path = Path(graph_dir) / folder / TOMBSTONES
    fix = _rebuild(graph_dir, folder)
    value = _read_json(path, fix)
    try:
        return set(_TOMBSTONES.validate_python(value))
    except ValidationError as exc:
        raise StoreError(f"{path}: must be a list of int64 FAISS ids: {_problems(exc)}. {fix}") from None


def _check_faiss_file(path: Path, sha256: str | None, fix: str) -> None:
    """index.faiss is there and, when the manifest records its SHA-256, holds the bytes the manifest vouches for."""
    if path_kind(path)[0] != "file":
        raise StoreError(f"{path} is missing. {fix}")
    if sha256 is None:
        logger.debug("%s: its manifest predates index_sha256; read without checking its bytes", path)
        return
    digest = _sha256(path)
    if digest != sha256:
        raise StoreError(f"{path}: SHA-256 {digest[:12]}... differs from the manifest's `index_sha256` "
                         f"{sha256[:12]}...: the file is damaged or was replaced. {fix}")


def _read_json(path: Path, fix: str) -> object:
    """The JSON value of one index file; a file Python cannot read as JSON is a StoreError naming it."""
    kind, reason = path_kind(path)
    if kind == "unusable":
        raise StoreError(f"index folder {brief(str(path.parent))} cannot be opened: {reason}.")
    if kind != "file":
        raise StoreError(f"{path} is {'a folder' if kind == 'folder' else 'missing'}. {fix}")
    raw = path.read_bytes()
    try:
        return parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}). {fix}") from None
    except NotJSON as exc:
        raise StoreError(f"{path}: {exc}. {fix}") from None


def _problems(exc: ValidationError) -> str:
    """`field`: rule (got value), per problem: the form of kqa.config.format_validation_error, which this module
    cannot import (kqa.config imports it, through kqa.retrieval.config)."""
    return "; ".join(f"`{'.'.join(map(str, e['loc'])) or '<root>'}`: {e['msg']} (got {brief(e.get('input'))})"
                     for e in exc.errors())


def _items(folder: str) -> str:
    return "sentence" if folder == SENTENCE_DIR else "edge"


def _rebuild(graph_dir: str | Path, folder: str = INDEX_DIR) -> str:
    return f"Rebuild it: kqa index build --graph {graph_dir}" + (" --sentences" if folder == SENTENCE_DIR else "")


def _is_hnsw(factory: str) -> bool:
    return factory.startswith("HNSW")


def write_json(path: Path, obj) -> None:
    """Write `obj` as JSON through a temp file, fsynced and renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    _fsync_file(tmp)
    os.replace(tmp, path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
