"""Dense fact index: verbalized graph edges embedded with a sentence-transformers model, searched with FAISS.

On disk, beside the graph:  <graph>/index/index.faiss, manifest.json, tombstones.json
The manifest names the faiss version, factory string, embedder, dimension, vector count and the checksum of the edge
set it was built from; an index that does not match its graph or embedder is refused rather than silently used.
Updates are incremental: added edges are embedded and added, removed ones deleted (`remove_ids`), or, for HNSW,
which cannot delete, tombstoned and filtered out of results until the next full build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kqa.errors import ConfigError, StoreError

logger = logging.getLogger(__name__)

INDEX_DIR = "index"


class IndexConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    factory: str = Field("Flat", description="FAISS index_factory string: 'Flat', 'HNSW32,Flat', 'IVF256,Flat', ...")
    embedder: str = Field("minilm-l6", description="sentence-transformers model: short name, local path or hub id.")
    batch_size: int = Field(256, gt=0, description="Sentences per encode call while building.")
    nprobe: int = Field(16, gt=0, description="IVF lists visited per search (IVF factories only).")
    ef_search: int = Field(64, gt=0, description="HNSW search breadth (HNSW factories only).")

    @field_validator("factory")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if not value.split(",")[0].startswith(("Flat", "HNSW", "IVF")):
            raise ValueError("must start with Flat, HNSW<M> or IVF<nlist> (e.g. 'Flat', 'HNSW32,Flat', 'IVF256,Flat')")
        return value


@dataclass(frozen=True)
class IndexManifest:
    faiss_version: str
    factory: str
    embedder: str
    dimension: int
    count: int
    graph_checksum: str
    metric: str = "inner_product"  # on L2-normalized embeddings: cosine similarity


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
        if self._model is None:
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
        try:
            inner = faiss.index_factory(dim, config.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ConfigError(f"`index.factory` {config.factory!r} is not a valid FAISS factory string: {exc}") from None
        index = faiss.IndexIDMap(inner) if _is_hnsw(config.factory) else faiss.IndexIDMap2(inner)
        if not index.is_trained:
            if len(vectors) < 39 * getattr(inner, "nlist", 1):
                logger.warning("IVF training on %d vectors for %s: fewer than 39 per list", len(vectors), config.factory)
            index.train(vectors)
        index.add_with_ids(vectors, np.array([to_int64(i) for i in ids], dtype=np.int64))
        manifest = IndexManifest(faiss.__version__, config.factory, embedder.name, dim, index.ntotal,
                                 edge_set_checksum(ids))
        return cls(index, manifest, set(), config)

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
            self.tombstones.difference_update(ints)  # re-added after a removal: alive again
            self.index.add_with_ids(embedder.encode(added_texts), np.array(ints, dtype=np.int64))
        count = self.index.ntotal - len(self.tombstones)
        self.manifest = IndexManifest(**(asdict(self.manifest) | {"count": count, "graph_checksum": graph_checksum}))

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
    def save(self, graph_dir: str | Path) -> Path:
        import faiss

        folder = Path(graph_dir) / INDEX_DIR
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "index.faiss.tmp"
        faiss.write_index(self.index, str(tmp))
        _fsync_file(tmp)
        os.replace(tmp, folder / "index.faiss")
        _write_json(folder / "tombstones.json", sorted(self.tombstones))
        _write_json(folder / "manifest.json", asdict(self.manifest))  # last: it vouches for the files above
        return folder

    @classmethod
    def load(cls, graph_dir: str | Path, config: IndexConfig, *, embedder: str, graph_checksum: str) -> FactIndex:
        """Load and check the index beside a graph; refuse one built for another graph or embedder."""
        import faiss

        folder = Path(graph_dir) / INDEX_DIR
        manifest = read_manifest(graph_dir)
        if manifest.embedder != embedder:
            raise StoreError(f"{folder}: the index was built with embedder {manifest.embedder!r} but the pipeline "
                             f"uses {embedder!r}. Rebuild it: kqa index build --graph {graph_dir}")
        if manifest.graph_checksum != graph_checksum:
            raise StoreError(f"{folder}: the index is out of date with the graph (edge checksum "
                             f"{manifest.graph_checksum[:12]} != {graph_checksum[:12]}). "
                             f"Rebuild it: kqa index build --graph {graph_dir}")
        try:
            index = faiss.read_index(str(folder / "index.faiss"))
        except RuntimeError as exc:
            raise StoreError(f"{folder / 'index.faiss'}: not a readable FAISS index ({exc}).") from None
        tombstones = set(json.loads((folder / "tombstones.json").read_text(encoding="utf-8")))
        if index.ntotal - len(tombstones) != manifest.count or index.d != manifest.dimension:
            raise StoreError(f"{folder}: index.faiss holds {index.ntotal - len(tombstones)} vectors of dimension "
                             f"{index.d}, the manifest says {manifest.count} of {manifest.dimension}; rebuild it.")
        config = config.model_copy(update={"factory": manifest.factory, "embedder": manifest.embedder})
        return cls(index, manifest, tombstones, config)


def read_manifest(graph_dir: str | Path) -> IndexManifest:
    path = Path(graph_dir) / INDEX_DIR / "manifest.json"
    if not path.is_file():
        raise StoreError(f"no fact index at {path.parent}. Build it: kqa index build --graph {graph_dir}")
    try:
        return IndexManifest(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise StoreError(f"{path}: not a kqa index manifest ({exc}).") from None


def _is_hnsw(factory: str) -> bool:
    return factory.startswith("HNSW")


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    _fsync_file(tmp)
    os.replace(tmp, path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
