"""Adapter and index folders (missing, truncated or foreign files): read, or a StoreError naming the folder.

Reading only: no backbone or embedder is built.
"""

import json
import random
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import AdapterFolders, IndexFolders
from kqa.adapters.saving import CONFIG, WEIGHTS, read_adapter, read_meta
from kqa.errors import StoreError
from kqa.retrieval.index import FactIndex, IndexConfig, read_manifest
from tests.fuzz import FUZZ


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    return AdapterFolders(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    return IndexFolders(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_adapter_folders_read_or_name_the_folder(adapters, rng):
    outcome = adapters.run(rng)
    assert outcome.kind != "escaped", outcome.detail


@FUZZ
@example(rng=random.Random("1:index:8"))  # bench_fuzz input that escaped (seed 1): a list where the checksum belongs
@given(rng=st.randoms(use_true_random=False))
def test_index_folders_load_or_name_the_folder(indexes, rng):
    outcome = indexes.run(rng)
    assert outcome.kind != "escaped", outcome.detail


# ---- adapters: regressions -----------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path, adapters):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / CONFIG).write_text(json.dumps(adapters.meta))
    (folder / WEIGHTS).write_bytes(adapters.weights)
    return folder


def test_a_valid_folder_reads(saved):
    adapter = read_adapter(saved, check_backbone=False)
    assert adapter.init_seed == 3 and sorted(adapter.weights) == ["gated.gate", "head.0.weight"]


def edit_meta(folder, **changes):
    meta = json.loads((folder / CONFIG).read_text())
    (folder / CONFIG).write_text(json.dumps({k: v for k, v in (meta | changes).items() if v is not ...}))


@pytest.mark.parametrize("changes, message", [
    ({"adapter": ...}, r"`adapter`: Field required"),
    ({"adapter": {"method": ["gated"]}}, r"`adapter\.method`: Input should be a valid string"),
    ({"backbone": "minilm-l6"}, r"`backbone`: Input should be a valid dictionary"),
    ({"init_seed": {"seed": 1}}, r"`init_seed`: Input should be a valid integer"),
    ({"init_seed": "5"}, r"`init_seed`: Input should be a valid integer"),  # strict: "5" is no seed
    ({"training": 3}, r"`training`: Input should be a valid dictionary"),
    ({"training": {"long_context": {"target_length": "4k"}}}, r"`training\.long_context\.target_length`"),
    ({"graph_checksum": ["a"]}, r"`graph_checksum`: Input should be a valid string"),  # was hashed into a set
])
def test_a_config_field_of_the_wrong_type_is_a_store_error_naming_it(saved, changes, message):
    edit_meta(saved, **changes)
    with pytest.raises(StoreError, match=rf"adapter_config\.json: not an adapter config written by kqa: .*{message}"):
        read_adapter(saved, check_backbone=False)


@pytest.mark.parametrize("content, message", [
    (b"\xff{}", r"not UTF-8 \(byte 0xff at offset 0\)"),
    (b"[1, 2]", r"the top level must be a JSON object, got list"),
    (b'{"adapter": ' + b"7" * 5000 + b"}", r"invalid JSON \(Exceeds the limit \(4300 digits\)"),
    (b"[" * 100_000, r"invalid JSON \(nested too deeply\)"),
    (b'{"adapter": {}', r"invalid JSON \(Expecting ',' delimiter at column 15\)"),
])
def test_a_config_file_that_is_no_json_object_is_a_store_error(saved, content, message):
    (saved / CONFIG).write_bytes(content)
    with pytest.raises(StoreError, match=rf"adapter_config\.json: {message}"):
        read_meta(saved)


@pytest.mark.parametrize("cut", [0, 7, 40, -1])
def test_truncated_weights_are_a_store_error_naming_the_file(saved, adapters, cut):
    (saved / WEIGHTS).write_bytes(adapters.weights[:cut])
    with pytest.raises(StoreError, match=r"adapter\.safetensors: not a readable safetensors file"):
        read_adapter(saved, check_backbone=False)


def test_a_folder_name_too_long_for_the_file_system_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match=r"adapter folder '.*xxx\.\.\. \(\d+ characters\) cannot be opened: File"):
        read_meta(tmp_path / ("x" * 300))  # Path.is_file() raised OSError (ENAMETOOLONG)


def test_foreign_weights_are_a_store_error_naming_the_tensors(saved, adapters):
    (saved / WEIGHTS).write_bytes(adapters.foreign)
    with pytest.raises(StoreError, match=r"tensors \['encoder\.layer\.0\.weight'\] belong to no part of an adapter"):
        read_adapter(saved, check_backbone=False)


# ---- index: regressions (each once escaped as the exception its test names) ---------------------------------------
@pytest.fixture
def graph(tmp_path, indexes):
    folder = tmp_path / "graph" / "index"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(indexes.manifest))
    (folder / "tombstones.json").write_text("[]")
    (folder / "index.faiss").write_bytes(indexes.faiss)
    return folder.parent


def load(graph, indexes):
    return FactIndex.load(graph, IndexConfig(), embedder="minilm-l6", graph_checksum=indexes.checksum)


def test_a_valid_index_folder_loads(graph, indexes):
    assert load(graph, indexes).index.ntotal == 3


@pytest.mark.parametrize("content, message", [
    (b"\xff", r"not UTF-8 \(byte 0xff at offset 0\)"),  # UnicodeDecodeError
    (b'{"count": ' + b"3" * 5000 + b"}", r"invalid JSON \(Exceeds the limit \(4300 digits\)"),  # ValueError
    (b"[" * 100_000, r"invalid JSON \(nested too deeply\)"),  # RecursionError
], ids=["not-utf8", "5000-digits", "deep"])
def test_a_manifest_python_cannot_read_is_a_store_error(graph, content, message):
    (graph / "index" / "manifest.json").write_bytes(content)
    with pytest.raises(StoreError, match=rf"manifest\.json: {message}.*\. Rebuild it: kqa index build --graph"):
        read_manifest(graph)


@pytest.mark.parametrize("changes, message", [
    ({"graph_checksum": 7}, r"`graph_checksum`: Input should be a valid string \(got 7\)"),  # TypeError: [:12]
    ({"count": "3"}, r"`count`: Input should be a valid integer \(got '3'\)"),
    ({"dimension": 0}, r"`dimension`: Input should be greater than 0"),
    ({"embedder": None}, r"`embedder`: Input should be a valid string \(got None\)"),
    ({"index_sha256": "abc"}, r"`index_sha256`: String should match pattern"),
])
def test_a_manifest_field_of_the_wrong_type_is_a_store_error_naming_it(graph, indexes, changes, message):
    (graph / "index" / "manifest.json").write_text(json.dumps(indexes.manifest | changes))
    with pytest.raises(StoreError, match=rf"manifest\.json: not a kqa index manifest: {message}"):
        load(graph, indexes)


@pytest.mark.parametrize("content, message", [
    ("3", r": must be a list of int64 FAISS ids: `<root>`: Input should be a valid list \(got 3\)"),  # TypeError
    ("[[1]]", r": must be a list of int64 FAISS ids: `0`: Input should be a valid integer \(got \[1\]\)"),  # unhashable
    ("[1.5]", r": must be a list of int64 FAISS ids: `0`: Input should be a valid integer"),
    (None, r" is missing"),  # FileNotFoundError
], ids=["int", "nested", "float", "missing"])
def test_tombstones_of_the_wrong_type_or_missing_are_a_store_error(graph, indexes, content, message):
    path = graph / "index" / "tombstones.json"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    with pytest.raises(StoreError, match=re.escape(str(path)) + message + r".* Rebuild it: kqa index build --graph"):
        load(graph, indexes)


def test_a_damaged_index_file_is_refused_before_faiss_reads_it(graph, indexes):
    """A flipped byte in a size field made faiss.read_index allocate until the machine was out of memory (seen while
    fuzzing: std::bad_alloc, or the process killed). This flips a vector byte, which faiss would read silently."""
    data = bytearray(indexes.faiss)
    data[-40] ^= 0xFF
    (graph / "index" / "index.faiss").write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"index\.faiss: SHA-256 [0-9a-f]{12}\.\.\. differs from the manifest's "
                                         r"`index_sha256` [0-9a-f]{12}\.\.\.: the file is damaged or was replaced\. Rebuild it: kqa "
                                         r"index build --graph " + re.escape(str(graph))):
        load(graph, indexes)
