"""`kqa graph ...` through typer's CliRunner (the root CLI mounts this sub-app)."""

import json

from typer.testing import CliRunner

from kqa.graph import cli

runner = CliRunner()


def invoke(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


def test_build_update_stats_show_remove(corpus, tmp_path, monkeypatch, cheap_parser):
    monkeypatch.setattr(cli, "GraphBuilder", lambda config, progress: _Builder(config, cheap_parser, progress))
    graph = tmp_path / "g"
    result = invoke("build", corpus, "--graph", graph, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents_parsed"] == 3
    result = invoke("update", corpus, "--graph", graph, "--json", "--no-progress")
    assert json.loads(result.stdout)["documents_unchanged"] == 3
    stats = json.loads(invoke("stats", "--graph", graph, "--json").stdout)
    assert stats == {"nodes": 7, "edges": 4, "documents": 3, "relations": {"IsA": 4}}
    view = json.loads(invoke("show", "Dog", "--graph", graph, "--json").stdout)
    assert view["edges"][0]["tail"] == "animal" and len(view["edges"][0]["sources"]) == 2
    assert "dog --IsA--> animal" in invoke("show", "dog", "--graph", graph).stdout
    removed = json.loads(invoke("remove", "a.txt", "--graph", graph, "--json").stdout)
    assert removed["documents_removed"] == 1 and removed["edges_removed"] == 1


def test_errors_are_one_line_on_stderr(tmp_path):
    result = invoke("stats", "--graph", tmp_path / "none", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert "no graph at" in result.stderr
    result = invoke("build", tmp_path, "--graph", tmp_path / "g", "--engine", "spark")
    assert result.exit_code == 2 and "engine" in result.stderr


def test_import_conceptnet(tmp_path):
    result = invoke("import", "conceptnet", "data/conceptnet_sample.csv", "--graph", tmp_path / "g", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["graph"]["edges"] == 5 and out["skipped"][0]["reason"] == "1 malformed lines"


class _Builder:
    def __init__(self, config, parser, progress):
        from kqa.graph.builder import GraphBuilder

        self.inner = GraphBuilder(config, parser=parser, progress=progress)

    def run(self, *args, **kwargs):
        return self.inner.run(*args, **kwargs)
