"""The on-disk store: atomic commits, checksums, damaged and foreign files, the writer lock, compaction."""

import json

import pytest

from kqa.errors import StoreError
from kqa.graph.codec import dump_state
from kqa.graph.model import AddDocument, Document, RemoveName, SetStatus, Triple, triple_id
from kqa.graph.store import GraphStore


def doc(name, *pairs, doc_id=None):
    triples = tuple(Triple(h, "IsA", t, f"{h} is a {t}.", "test", 0.9) for h, t in pairs)
    return Document(doc_id or f"id-{name}-{len(pairs)}", name, triples)


def digest(store):
    return list(dump_state(store.state))


def test_commit_and_reopen(tmp_path):
    with GraphStore.open(tmp_path / "g", writable=True, create=True) as store:
        changes = store.commit([AddDocument(doc("a", ("dog", "animal"))), AddDocument(doc("b", ("dog", "animal")))])
        assert changes.added == {triple_id("dog", "IsA", "animal")} and not changes.removed
        before = digest(store)
    with GraphStore.open(tmp_path / "g") as store:
        assert digest(store) == before
        (edge,) = store.neighbours("dog")
        assert sorted(s.source for s in edge.supports) == ["id-a-1", "id-b-1"]  # one edge, two sources
        assert store.vocabulary() == {"dog", "animal"}
        assert store.stats() == {"nodes": 2, "edges": 1, "documents": 2, "relations": {"IsA": 1}}


def test_removal_retracts_support_and_reports_ids(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True) as store:
        store.commit([AddDocument(doc("a", ("dog", "animal"), ("cat", "animal"))), AddDocument(doc("b", ("dog", "animal")))])
        changes = store.commit([RemoveName("id-a-2", "a")])
        assert changes.removed == {triple_id("cat", "IsA", "animal")} and not changes.added
        assert store.concept("cat") is None and store.edge(triple_id("dog", "IsA", "animal")) is not None
        assert store.commit([RemoveName("id-a-2", "a")]).removed == set()  # removing twice changes nothing


def test_status_is_persisted(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True) as store:
        store.commit([AddDocument(doc("a", ("dog", "animal")))])
        store.commit([SetStatus(triple_id("dog", "IsA", "animal"), "quarantined")])
    with GraphStore.open(tmp_path) as store:
        assert store.edge(triple_id("dog", "IsA", "animal")).status == "quarantined"


def test_uncommitted_log_tail_and_stale_temp_files_are_ignored(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True) as store:
        store.commit([AddDocument(doc("a", ("dog", "animal")))])
        log = tmp_path / store.manifest["log"]
        before = digest(store)
    with open(log, "ab") as f:
        f.write(b'deadbeef [{"op": "add", "id"')  # a batch killed mid-write
    (tmp_path / "manifest.json.tmp").write_text("{garbage")
    (tmp_path / "snapshot-000009.jsonl.tmp").write_text("garbage")
    with GraphStore.open(tmp_path, writable=True) as store:
        assert digest(store) == before
        store.commit([AddDocument(doc("b", ("cat", "animal")))])
    assert not list(tmp_path.glob("*.tmp"))
    with GraphStore.open(tmp_path) as store:
        assert store.stats()["documents"] == 2


def test_compaction_keeps_the_graph(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True, compact_min_bytes=200) as store:
        for i in range(20):
            store.commit([AddDocument(doc(f"d{i}", (f"thing{i}", "object")))])
        assert store.manifest["generation"] > 0
        before = digest(store)
    assert len(list(tmp_path.glob("snapshot-*"))) == 1
    with GraphStore.open(tmp_path) as store:
        assert digest(store) == before


def test_second_writer_is_refused(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True):
        with pytest.raises(StoreError, match="locked by another writer"):
            GraphStore.open(tmp_path, writable=True)
        GraphStore.open(tmp_path)  # readers need no lock
    GraphStore.open(tmp_path, writable=True).close()  # released on close


def test_read_only_store_refuses_writes(tmp_path):
    GraphStore.open(tmp_path, writable=True, create=True).close()
    with pytest.raises(StoreError, match="read-only"):
        GraphStore.open(tmp_path).commit([AddDocument(doc("a"))])


def test_missing_graph(tmp_path):
    with pytest.raises(StoreError, match="no graph at"):
        GraphStore.open(tmp_path / "nowhere")


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not JSON"),
    ('{"format": "something-else"}', "`format` must be 'kqa-graph'"),
    ('{"format": "kqa-graph", "version": 99}', "`version` 99 is not supported"),
])
def test_foreign_manifest(tmp_path, content, message):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(StoreError, match=message):
        GraphStore.open(tmp_path)


def test_manifest_missing_a_key_names_it(tmp_path):
    GraphStore.open(tmp_path, writable=True, create=True).close()
    data = json.loads((tmp_path / "manifest.json").read_text())
    del data["log_bytes"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match="lacks 'log_bytes'"):
        GraphStore.open(tmp_path)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("log_bytes", "0", "`log_bytes` must be an int >= 0, got '0'"),
    ("log_bytes", -1, "`log_bytes` must be an int >= 0, got -1"),
    ("batches", True, "`batches` must be an int >= 0, got True"),
    ("counts", [], "`counts` must be dict"),
    ("snapshot", "../../etc/passwd", "`snapshot` must name a file beside the manifest"),
    ("log", "manifest.json", "`log` must name a file beside the manifest"),  # compaction would delete it
    ("log", "lock", "`log` must name a file"),
    ("log", "log-\u0661\u0662\u0663\u0664\u0665\u0666.jsonl", r"`log` must name a file .*log-NNNNNN.jsonl"),
    ("snapshot", "a/snapshot-000001.jsonl", "`snapshot` must name a file"),
])
def test_manifest_with_a_wrong_value_names_it(tmp_path, key, value, message):
    GraphStore.open(tmp_path, writable=True, create=True).close()
    data = json.loads((tmp_path / "manifest.json").read_text())
    data[key] = value
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match=message):
        GraphStore.open(tmp_path)


def test_damaged_files_are_detected(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True, compact_min_bytes=10) as store:
        store.commit([AddDocument(doc("a", ("dog", "animal")))])  # compacts: the data is in the snapshot
        store.commit([AddDocument(doc("b", ("cat", "animal")))])
        manifest = store.manifest
    snapshot = tmp_path / manifest["snapshot"]
    good = snapshot.read_bytes()
    snapshot.write_bytes(good.replace(b"dog", b"dig"))
    with pytest.raises(StoreError, match="checksum"):
        GraphStore.open(tmp_path)
    snapshot.write_bytes(good)
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["counts"]["edges"] = 7
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match="counts"):
        GraphStore.open(tmp_path)


def test_damaged_log_is_detected(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True) as store:
        store.commit([AddDocument(doc("a", ("dog", "animal")))])
        log = tmp_path / store.manifest["log"]
    log.write_bytes(log.read_bytes().replace(b"dog", b"dig"))
    with pytest.raises(StoreError, match="checksum"):
        GraphStore.open(tmp_path)
    log.write_bytes(b"")
    with pytest.raises(StoreError, match="truncated"):
        GraphStore.open(tmp_path)


def test_no_pickle_on_disk(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True, compact_min_bytes=10) as store:
        store.commit([AddDocument(doc("a", ("dog", "animal")))])
    for f in tmp_path.iterdir():
        if f.name != "lock" and f.stat().st_size:
            f.read_text(encoding="utf-8")  # every data file is UTF-8 text (JSON)
