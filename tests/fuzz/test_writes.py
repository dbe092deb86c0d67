"""A command refused for bad input leaves nothing behind: no half-written output folder, no empty graph."""

import pytest
from typer.testing import CliRunner

from kqa.cli import app
from kqa.errors import ConfigError, InputError
from kqa.graph.builder import GraphBuilder
from kqa.graph.config import GraphConfig
from kqa.graph.importers import import_conceptnet4
from tests.conftest import csqa_record, write_jsonl

runner = CliRunner()


def test_kqa_eval_refusing_a_record_writes_no_output_folder(tmp_path):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1"), {**csqa_record("q2"), "answerKey": [None]}])
    result = runner.invoke(app, ["eval", str(data), "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, InputError) and "line 2 of" in str(result.exception)
    assert not (tmp_path / "run").exists()


def test_kqa_eval_refusing_a_pipeline_writes_no_output_folder(tmp_path):
    data = write_jsonl(tmp_path / "q.jsonl", [csqa_record("q1")])
    pipeline = tmp_path / "bad.yaml"
    pipeline.write_bytes(b"scorer:\n  mode: " + b"\xff" + b"\n")
    result = runner.invoke(app, ["eval", str(data), "-p", str(pipeline), "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, ConfigError) and "bad.yaml: not UTF-8" in str(result.exception)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("corpus, message", [
    ("nope", r"corpus .*nope does not exist"),
    ("empty", r"corpus folder .*empty has no \.txt/\.md files"),
    ("x" * 300, r"corpus '.*xxx\.\.\. \(\d+ characters\) cannot be opened"),
])
def test_a_graph_build_from_a_missing_corpus_creates_no_graph(tmp_path, corpus, message):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=message):  # the store used to be created before the corpus was read
        GraphBuilder(GraphConfig(), parser=object(), progress=False).run(tmp_path / corpus, tmp_path / "g", create=True)
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("content", [None, b"", b"fish\taquarium\n", b"\x1f\x8b\x08\x00junk"],
                         ids=["missing", "empty", "not-gzip", "truncated-gzip"])
def test_a_conceptnet4_import_refusing_the_file_creates_no_graph(tmp_path, content):
    path = tmp_path / "conceptnet_en.graph.gz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=rf"ConceptNet file {path}"):
        import_conceptnet4(tmp_path / "g", path=path, progress=False)
    assert not (tmp_path / "g").exists()
