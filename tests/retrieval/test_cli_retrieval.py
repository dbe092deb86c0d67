"""The retrieval commands end to end: graph build -> index build -> graph update syncs the index -> ask with evidence."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from kqa.cli import app
from kqa.graph.store import GraphStore
from kqa.retrieval.facts import retrievable
from kqa.retrieval.index import edge_set_checksum, read_manifest

runner = CliRunner()
CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus_small"


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_update_keeps_the_index_in_step_and_ask_shows_evidence(tmp_path, tiny_llama_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    graph = tmp_path / "graph"
    invoke("graph", "build", corpus, "--graph", graph, "--no-progress", "--json")
    manifest = json.loads(invoke("index", "build", "--graph", graph, "--json").stdout)
    assert manifest["count"] > 0 and manifest["factory"] == "Flat"

    (corpus / "kitchen.txt").write_text("A knife is used for cutting bread. An oven is used for baking.\n")
    invoke("graph", "update", corpus, "--graph", graph, "--no-progress", "--json")
    with GraphStore.open(graph) as store:
        ids, _ = retrievable(store.edges())
    synced = read_manifest(graph)
    assert synced.count == len(ids) > manifest["count"]
    assert synced.graph_checksum == edge_set_checksum(ids)  # loadable without a rebuild

    linked = json.loads(invoke("link", "Where is a live fish kept?", "--graph", graph, "--json").stdout)
    assert "fish" in {c["name"] for c in linked["concepts"]} or "live fish" in {c["name"] for c in linked["concepts"]}

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"model:\n  name: {tiny_llama_dir}\nscorer:\n  use_facts: true\n")
    answer = json.loads(invoke("ask", "What is used for cutting bread?", "--choices", "knife|aquarium",
                               "-p", pipeline, "--graph", graph, "--json").stdout)
    knife = answer["choices"][0]
    assert knife["evidence"], "the knife choice should carry facts"
    fact = knife["evidence"][0]
    assert set(fact) >= {"head", "relation", "tail", "text", "score", "provenance", "origin", "id"}
    assert fact["provenance"][0]["sentence"]


def test_stale_index_is_refused_with_the_fix(tmp_path, tiny_llama_dir):
    graph = tmp_path / "graph"
    invoke("graph", "build", CORPUS, "--graph", graph, "--no-progress", "--json")
    invoke("index", "build", "--graph", graph, "--json")
    manifest_path = graph / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(manifest | {"graph_checksum": "0" * 64}))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"model:\n  name: {tiny_llama_dir}\n")
    result = runner.invoke(app, ["ask", "q?", "--choices", "a|b", "-p", str(pipeline), "--graph", str(graph)])
    assert result.exit_code != 0
    assert "out of date with the graph" in str(result.exception) and "kqa index build" in str(result.exception)
