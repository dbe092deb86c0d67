"""Pipeline YAML: a PipelineConfig, or a ConfigError naming the file and the `section.key`."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import PipelineConfigs
from kqa.config import load_config
from kqa.errors import ConfigError
from tests.fuzz import FUZZ


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    return PipelineConfigs(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_pipeline_yaml_loads_or_names_the_file_and_key(configs, rng):
    outcome = configs.run(rng)
    assert outcome.kind != "escaped", outcome.detail


@pytest.mark.parametrize("text, message", [
    (b"name: caf\xe9\n", r"not UTF-8 \(byte 0xe9 at offset 9\)"),
    (b"name: " + b"[" * 5000 + b"\n", r"not valid YAML: nested too deeply"),
    (b"scorer:\n  batch_size: " + b"9" * 5000 + b"\n", r"not valid YAML: a value cannot be read \(Exceeds the limit"),
    (b"name: 2021-02-30\n", r"not valid YAML: a value cannot be read \(day is out of range for month\)"),
])
def test_yaml_python_cannot_read_is_a_config_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError, match=r".*pipeline\.yaml: " + message):
        load_config(path)


def test_a_huge_wrong_value_is_quoted_briefly(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("scorer:\n  mode: " + "x" * 100_000 + "\n")
    message = r"`scorer\.mode`: Input should be .* \(got 'xxx.*\.\.\. \(100002 characters\)\)"
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_file_name_too_long_for_the_file_system_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"config file '.*xxx\.\.\. \(\d+ characters\) cannot be opened: File name"):
        load_config(tmp_path / ("x" * 300 + ".yaml"))  # Path.is_file() raised OSError (ENAMETOOLONG)
