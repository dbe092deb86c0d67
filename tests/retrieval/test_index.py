"""The FAISS fact index: factories, manifest checks, incremental updates equal to a rebuild."""

import hashlib
import json
import logging
import zlib

import numpy as np
import pytest

from kqa.errors import ConfigError, StoreError
from kqa.graph.builder import import_documents, remove_documents
from kqa.graph.store import GraphStore
from kqa.retrieval.facts import retrievable
from kqa.retrieval.index import (
    Embedder,
    FactIndex,
    IndexConfig,
    edge_set_checksum,
    read_manifest,
    to_int64,
    to_triple_id,
)
from kqa.retrieval.service import build_index
from tests.retrieval.conftest import document


@pytest.fixture(scope="module")
def embedder():
    return Embedder("minilm-l6")


class FakeEmbedder:
    """Stands in for the sentence-transformers model where the vectors do not matter: one unit vector per text."""

    name, dimension = "fake", 8

    def encode(self, texts, progress=False):
        vectors = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=8) for t in texts])
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)  # (N, 8)


@pytest.fixture
def saved(graph_dir):
    """An index saved beside the graph, built with the fake embedder; its checksum loads it."""
    ids, texts = current(graph_dir)
    FactIndex.build(ids, texts, FakeEmbedder(), IndexConfig()).save(graph_dir)
    return edge_set_checksum(ids)


def load_fake(graph_dir, checksum):
    return FactIndex.load(graph_dir, IndexConfig(), embedder="fake", graph_checksum=checksum)


def current(graph_dir):
    with GraphStore.open(graph_dir) as store:
        return retrievable(store.edges())


def test_id_round_trip():
    for tid in ("0000000000000000", "ffffffffffffffff", "8000000000000000", "7fffffffffffffff", "0123456789abcdef"):
        assert to_triple_id(to_int64(tid)) == tid


@pytest.mark.parametrize("factory", ["Flat", "HNSW32,Flat", "IVF2,Flat"])
def test_nearest_fact_is_found(graph_dir, embedder, factory):
    ids, texts = current(graph_dir)
    index = FactIndex.build(ids, texts, embedder, IndexConfig(factory=factory, nprobe=2))
    hits = index.search(embedder.encode(["What are scissors for? Cutting paper."]), 3)[0]
    assert texts[ids.index(hits[0][0])] == "scissors is used for cut paper"
    assert hits[0][1] >= hits[1][1]


def test_manifest_and_refusals(graph_dir):
    manifest = build_index(graph_dir, progress=False)
    ids, _ = current(graph_dir)
    assert manifest.count == len(ids) and manifest.dimension == 384 and manifest.factory == "Flat"
    assert manifest.embedder == "minilm-l6" and manifest.graph_checksum == edge_set_checksum(ids)
    on_disk = json.loads((graph_dir / "index" / "manifest.json").read_text())
    assert set(on_disk) >= {"faiss_version", "factory", "embedder", "dimension", "count", "graph_checksum"}
    with pytest.raises(StoreError, match=r"built with embedder 'minilm-l6' but the pipeline uses 'other-model'"):
        FactIndex.load(graph_dir, IndexConfig(), embedder="other-model", graph_checksum=manifest.graph_checksum)
    with pytest.raises(StoreError, match=r"out of date with the graph .* kqa index build --graph"):
        FactIndex.load(graph_dir, IndexConfig(), embedder="minilm-l6", graph_checksum="0" * 64)
    (graph_dir / "index" / "index.faiss").write_bytes(b"not an index")
    with pytest.raises(StoreError, match=r"index\.faiss: SHA-256 .* differs from the manifest's `index_sha256`"):
        FactIndex.load(graph_dir, IndexConfig(), embedder="minilm-l6", graph_checksum=manifest.graph_checksum)


def test_save_records_the_sha256_of_index_faiss_and_load_checks_it(graph_dir, saved):
    folder = graph_dir / "index"
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["index_sha256"] == hashlib.sha256((folder / "index.faiss").read_bytes()).hexdigest()
    assert load_fake(graph_dir, saved).manifest.index_sha256 == on_disk["index_sha256"]
    data = bytearray((folder / "index.faiss").read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit: faiss itself would read it silently, or, in a size, without end
    (folder / "index.faiss").write_bytes(bytes(data))
    with pytest.raises(StoreError, match=rf"{folder / 'index.faiss'}: SHA-256 .* differs from the manifest's "
                                         rf"`index_sha256` .*Rebuild it: kqa index build --graph {graph_dir}$"):
        load_fake(graph_dir, saved)


def test_a_synced_index_records_the_hash_of_its_new_file(graph_dir, saved):
    remove_documents(graph_dir, ["d2.txt"])  # syncs the index beside the graph; removals only: nothing to embed
    manifest = read_manifest(graph_dir)
    assert manifest.index_sha256 == hashlib.sha256((graph_dir / "index" / "index.faiss").read_bytes()).hexdigest()
    ids, _ = current(graph_dir)
    assert load_fake(graph_dir, edge_set_checksum(ids)).manifest == manifest


def test_an_index_saved_before_index_sha256_still_loads_unchecked(graph_dir, saved, caplog):
    path = graph_dir / "index" / "manifest.json"
    legacy = json.loads(path.read_text())
    del legacy["index_sha256"]
    path.write_text(json.dumps(legacy))
    with caplog.at_level(logging.DEBUG, logger="kqa.retrieval.index"):
        assert load_fake(graph_dir, saved).index.ntotal == legacy["count"]
    assert "predates index_sha256" in caplog.text
    (graph_dir / "index" / "index.faiss").write_bytes(b"not an index")
    with pytest.raises(StoreError, match=r"index\.faiss: not a readable FAISS index"):
        load_fake(graph_dir, saved)


def test_missing_index_says_how_to_build_it(graph_dir):
    with pytest.raises(StoreError, match=r"no fact index at .* Build it: kqa index build --graph"):
        FactIndex.load(graph_dir, IndexConfig(), embedder="minilm-l6", graph_checksum="x")


def test_bad_factory_is_a_config_error():
    with pytest.raises(ValueError, match=r"must start with Flat, HNSW<M> or IVF<nlist>"):
        IndexConfig(factory="PQ16")
    with pytest.raises(ConfigError, match=r"`index.factory` 'IVFx,Flat' is not a valid FAISS factory string"):
        FactIndex.build(["0" * 16], ["a fact"], Embedder("minilm-l6"), IndexConfig(factory="IVFx,Flat"))


def test_an_ivf_index_with_more_lists_than_facts_is_a_config_error(graph_dir):
    ids, texts = current(graph_dir)
    with pytest.raises(ConfigError, match=rf"'IVF256,Flat' clusters into 256 lists, which needs at least 256 facts "
                                          rf"to train on; there are {len(ids)}"):
        FactIndex.build(ids, texts, FakeEmbedder(), IndexConfig(factory="IVF256,Flat"))


def test_a_graph_without_retrievable_facts_has_no_index_to_build(tmp_path):
    import_documents(tmp_path / "g", [document("d1", [("fish", "NotCapableOf", "fly")])])  # a negation only
    with pytest.raises(StoreError, match=r"has no fact to index: it has no edges, or only negated"):
        build_index(tmp_path / "g", progress=False)


@pytest.mark.parametrize("factory", ["Flat", "HNSW32,Flat"])
def test_incremental_update_equals_a_rebuild(graph_dir, embedder, factory):
    config = IndexConfig(factory=factory)
    build_index(graph_dir, config, progress=False)
    # each write syncs the index beside the graph (kqa.graph.indexes), as `kqa graph update/remove` do
    import_documents(graph_dir, [document("d3", [("cat", "CapableOf", "climb"), ("fish", "IsA", "animal")])])
    assert remove_documents(graph_dir, ["d2.txt"]).removed
    manifest = read_manifest(graph_dir)
    ids, texts = current(graph_dir)
    assert manifest.count == len(ids) and manifest.graph_checksum == edge_set_checksum(ids)
    loaded = FactIndex.load(graph_dir, config, embedder="minilm-l6", graph_checksum=edge_set_checksum(ids))
    rebuilt = FactIndex.build(ids, texts, embedder, config)
    queries = embedder.encode(["a cat can climb", "fish in the sea", "a wheel of a car", "revolving door"])
    for got, want in zip(loaded.search(queries, 4), rebuilt.search(queries, 4)):
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_a_flat_index_turns_hnsw_from_hnsw_min_facts_on():
    config = IndexConfig(hnsw_min_facts=1000)
    assert [config.factory_for(n) for n in (999, 1000)] == ["Flat", "HNSW32,Flat"]
    assert IndexConfig().factory_for(49_999) == "Flat" and IndexConfig().factory_for(474_136) == "HNSW32,Flat"
    assert IndexConfig(hnsw_min_facts=None).factory_for(10**6) == "Flat"
    assert IndexConfig(factory="IVF256,Flat", hnsw_min_facts=1).factory_for(10**6) == "IVF256,Flat"  # chosen: kept
    with pytest.raises(ValueError, match=r"hnsw_min_facts\n  Input should be greater than 0"):
        IndexConfig(hnsw_min_facts=0)


def test_a_big_flat_index_is_built_hnsw_and_loads_so(graph_dir):
    ids, texts = current(graph_dir)
    index = FactIndex.build(ids, texts, FakeEmbedder(), IndexConfig(hnsw_min_facts=len(ids), ef_search=40))
    assert index.manifest.factory == "HNSW32,Flat" and index.config.factory == "HNSW32,Flat"
    assert faiss_inner(index).hnsw.efSearch == 40
    index.save(graph_dir)
    loaded = load_fake(graph_dir, edge_set_checksum(ids))
    assert loaded.manifest.factory == "HNSW32,Flat" and type(faiss_inner(loaded)).__name__ == "IndexHNSWFlat"
    query = FakeEmbedder().encode([texts[3]])
    assert loaded.search(query, 1)[0][0][0] == ids[3]


def test_an_index_built_flat_still_loads_flat(graph_dir, saved):
    """Indexes built before `hnsw_min_facts` (all 'Flat') load as their manifest says, whatever the threshold."""
    loaded = FactIndex.load(graph_dir, IndexConfig(hnsw_min_facts=1), embedder="fake", graph_checksum=saved)
    assert loaded.manifest.factory == "Flat" and type(faiss_inner(loaded)).__name__ == "IndexFlatIP"


def faiss_inner(index):
    import faiss

    return faiss.downcast_index(index.index.index)


def test_an_item_removed_from_hnsw_and_added_back_is_revived_not_duplicated(graph_dir):
    """HNSW cannot delete: a removed id is tombstoned, and adding it back revives its vector (same id, same text)."""
    ids, texts = current(graph_dir)
    index = FactIndex.build(ids, texts, FakeEmbedder(), IndexConfig(factory="HNSW32,Flat"))
    index.update([], [], ids[:2], FakeEmbedder(), "after-removal")
    assert index.manifest.count == len(ids) - 2 and index.index.ntotal == len(ids)
    index.update(ids[:2], texts[:2], [], FakeEmbedder(), "after-re-adding")
    assert index.manifest.count == index.index.ntotal == len(ids) and not index.tombstones
    hits = index.search(FakeEmbedder().encode([texts[0]]), 3)[0]
    assert hits[0][0] == ids[0] and [i for i, _ in hits].count(ids[0]) == 1
