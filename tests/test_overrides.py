"""`override`: the one way a command-line value gets into a config section, validated like the YAML, errors naming
the option."""

import pytest
from typer.testing import CliRunner

from kqa.adapters.config import TrainConfig
from kqa.config import PipelineConfig, with_graph
from kqa.errors import ConfigError
from kqa.graph import cli as graph_cli
from kqa.graph.config import GraphConfig
from kqa.overrides import override
from kqa.retrieval.index import IndexConfig
from kqa.web.config import WebConfig


def test_a_class_gives_the_defaults_and_an_instance_keeps_its_values():
    assert override(GraphConfig, workers=3) == GraphConfig(workers=3)
    train = TrainConfig(epochs=4, seed=7)
    assert override(train, coreset=0.5) == TrainConfig(epochs=4, seed=7, coreset=0.5)
    assert override(IndexConfig, hnsw_min_facts=None).hnsw_min_facts is None  # None is a value, not "unset"


def test_a_bad_value_names_the_option_the_key_the_rule_and_the_value():
    with pytest.raises(ConfigError, match=r"^--engine: `engine`: Input should be 'local' or 'ray' \(got 'spark'\)$"):
        override(GraphConfig, workers=2, engine="spark")
    with pytest.raises(ConfigError, match=r"^--spacy-model: `spacy_model`: "):
        override(GraphConfig, spacy_model=3)
    with pytest.raises(ConfigError, match=r"^--epochs: `epochs`: Input should be greater than 0 \(got 0\)$"):
        override(TrainConfig(), epochs=0)  # model_copy(update=...) would have let it through


def test_options_name_a_field_set_by_another_option():
    with pytest.raises(ConfigError) as caught:
        override(TrainConfig(), {"extra_data": "--data"}, extra_data=[{"data": "x", "weight": -1.0}])
    assert str(caught.value) == "--data: `extra_data.0.weight`: Input should be greater than 0 (got -1.0)"


def test_a_rule_over_several_fields_names_all_their_options():
    with pytest.raises(ConfigError, match=r"^--host/--port/--allow-remote: `host` '0\.0\.0\.0' is not a loopback"):
        override(WebConfig, host="0.0.0.0", port=80, allow_remote=False)


def test_with_graph_sets_graph_path_and_none_keeps_the_config():
    config = PipelineConfig()
    assert with_graph(config, None) is config
    assert with_graph(config, "graphs/mine").graph == GraphConfig(path="graphs/mine")


def test_graph_commands_report_a_bad_option_as_one_line_with_exit_2(tmp_path):
    result = CliRunner().invoke(graph_cli.app, ["infer", "--graph", str(tmp_path), "--decay", "2"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().startswith("error: --decay: `decay`: ") and "(got 2.0)" in result.stderr
