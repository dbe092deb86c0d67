"""`kqa graph show --png`, `kqa ask --png` and `kqa serve`'s host rule, through the real CLI."""

from __future__ import annotations

import logging
import re

import pytest
import yaml
from matplotlib.image import imread
from typer.testing import CliRunner

from kqa.cli import app
from kqa.errors import ConfigError, InputError
from kqa.web import app as web_app
from kqa.web.config import WebConfig

runner = CliRunner()


def test_graph_show_png_draws_the_neighbourhood(graph_dir, tmp_path):
    out = tmp_path / "fish.png"
    result = runner.invoke(app, ["graph", "show", "fish", "--graph", str(graph_dir), "--png", str(out)])
    assert result.exit_code == 0, result.output
    assert "fish --AtLocation--> aquarium" in result.output
    assert imread(out).shape[:2] == (600, 900)
    bad = runner.invoke(app, ["graph", "show", "fish", "--graph", str(graph_dir), "--png", str(tmp_path / "no/x.png")])
    assert bad.exit_code != 0 and "does not exist" in bad.output


def test_ask_png_draws_the_evidence_and_explains_with_a_fact_reading_scorer(graph_dir, tiny_llama_dir, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump({"model": {"name": str(tiny_llama_dir)}, "scorer": {"use_facts": True},
                                        "retrieval": {"dense_k": 0}}))
    out = tmp_path / "why.png"
    result = runner.invoke(app, ["ask", "Where would you keep a live fish?", "--choices", "aquarium|desert|oven",
                                 "--pipeline", str(pipeline), "--graph", str(graph_dir), "--explain",
                                 "--png", str(out)])
    assert result.exit_code == 0, result.output
    assert imread(out).shape[:2] == (600, 900)
    assert re.search(r"^ {3}[+-]\d\.\d{4}  an? \w+", result.output, re.MULTILINE), result.output  # "   +0.0123  a fish ..."


def test_ask_explain_without_a_picture_works_with_the_zero_shot_scorer(graph_dir, tiny_llama_dir, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump({"model": {"name": str(tiny_llama_dir)}, "scorer": {"use_facts": True},
                                        "retrieval": {"dense_k": 0}}))
    result = runner.invoke(app, ["ask", "Where would you keep a live fish?", "--choices", "aquarium|desert|oven",
                                 "--pipeline", str(pipeline), "--graph", str(graph_dir), "--explain"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^ {3}[+-]\d\.\d{4}  an? \w+", result.output, re.MULTILINE), result.output


def test_serve_refuses_a_non_loopback_host_without_the_flag():
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert isinstance(result.exception, ConfigError)
    assert "`host`" in str(result.exception) and "--allow-remote" in str(result.exception)
    assert WebConfig(host="::1").host == "::1" and WebConfig(host="localhost").port == 7860


def test_serve_on_an_allowed_remote_host_warns_and_loads_the_pipeline_once(tiny_pipeline, monkeypatch, caplog, capsys):
    import uvicorn

    built, served = [], []
    monkeypatch.setattr(web_app.KQAPipeline, "from_config", lambda *a, **k: built.append(a) or tiny_pipeline)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.append(sockets[0].getsockname()[:2]))
    with caplog.at_level(logging.WARNING, logger="kqa.web.app"):
        web_app.serve(None, None, None, WebConfig(host="0.0.0.0", port=0, allow_remote=True))
    assert len(built) == 1 and len(served) == 1
    host, port = served[0]
    assert host == "0.0.0.0" and port > 0  # --port 0: the OS picked one, and the page's address names it
    assert f"kqa page at http://0.0.0.0:{port}" in capsys.readouterr().out
    assert "any machine that can reach this address" in caplog.text


def test_serve_on_a_taken_port_says_so_before_loading_the_model(monkeypatch):
    import socket

    monkeypatch.setattr(web_app.KQAPipeline, "from_config", lambda *a, **k: pytest.fail("the model was loaded"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=rf"`--port` {port}: cannot listen on 127.0.0.1:{port}.*--port 0"):
            web_app.serve(None, None, None, WebConfig(port=port))


@pytest.mark.parametrize("host", ["10.0.0.1", "example.org", "0.0.0.0"])
def test_only_loopback_hosts_pass_by_default(host):
    with pytest.raises(ValueError, match="not a loopback address"):
        WebConfig(host=host)
