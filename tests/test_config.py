from pathlib import Path

import pytest

from kqa.config import PipelineConfig, load_config
from kqa.errors import ConfigError

PIPELINES = sorted(Path(__file__).resolve().parents[1].glob("pipelines/*.yaml"))


def test_the_code_defaults_are_the_zero_shot_yaml():
    config = load_config(Path("pipelines/zero-shot.yaml"))
    assert config.model.name == "smollm2-135m" and config.reader.adapter is None
    assert config.scorer.mode == "char" and config.scorer.template == "{question}"
    assert config == PipelineConfig(name="zero-shot")  # the YAML spells out the code's defaults, nothing hidden


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_every_shipped_pipeline_validates(path):
    assert isinstance(load_config(path), PipelineConfig)


def test_unknown_key_names_the_key_and_the_value():
    with pytest.raises(ConfigError, match=r"`scorer\.modee`: unknown key .*\(got 'sum'\)"):
        load_config({"scorer": {"modee": "sum"}})


def test_bad_value_names_key_rule_and_value():
    with pytest.raises(ConfigError, match=r"`scorer\.mode`: Input should be 'sum', 'mean', 'char' or 'pmi' \(got 'median'\)"):
        load_config({"scorer": {"mode": "median"}})


def test_numeric_rule_is_reported():
    with pytest.raises(ConfigError, match=r"`scorer\.batch_size`: Input should be greater than 0 \(got 0\)"):
        load_config({"scorer": {"batch_size": 0}})


def test_template_must_have_question_slot():
    with pytest.raises(ConfigError, match=r"`scorer\.template`: must contain the placeholder \{question\}"):
        load_config({"scorer": {"template": "Answer:"}})


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: the top level must be a mapping"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"missing\.yaml does not exist"):
        load_config(tmp_path / "missing.yaml")
    typo = tmp_path / "typo.yaml"
    typo.write_text("modle:\n  name: x\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: `modle`: unknown key"):
        load_config(typo)


def test_config_is_frozen():
    config = PipelineConfig()
    with pytest.raises(Exception):
        config.scorer.mode = "sum"
