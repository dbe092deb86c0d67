"""Pipeline configuration: one pydantic section per stage, loaded from `pipelines/*.yaml`.

Every section forbids unknown keys, so a typo fails loudly instead of silently using a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kqa.adapters.config import AdapterConfig, LongContextConfig, TrainConfig
from kqa.errors import ConfigError, brief
from kqa.graph.config import GraphConfig
from kqa.overrides import format_validation_error, override
from kqa.retrieval.config import RetrievalConfig
from kqa.userinput import path_kind


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(Section):
    name: str = Field(
        "smollm2-135m",
        description="Short name from kqa.models (smollm2-135m, gemma3-270m, minilm-l6), a local folder, or a hub id.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weights dtype. float32 on CPU: bf16 matmuls are slow on most CPUs."
    )
    device: str = Field("cpu", description="torch device string, e.g. 'cpu' or 'cuda:0'.")


class ScorerConfig(Section):
    mode: Literal["sum", "mean", "char", "pmi"] = Field(
        "char",
        description="sum: total log-likelihood of the choice; mean: per-token average (length-normalized); "
        "char: per character of the choice (lighteval's acc_norm, as the SmolLM2 model card reports); "
        "pmi: log p(choice | prompt) - log p(choice | neutral prompt), the neutral prompt keeping the facts prefix.",
    )
    template: str = Field(
        "{question}",
        description="Prompt before each choice (lighteval's: the bare question); must contain {question}.",
    )
    neutral_template: str = Field("Answer:", description="The prompt whose likelihood PMI divides by.")
    use_facts: bool = Field(False, description="Prepend retrieved facts (all choices' evidence) to the prompt.")
    max_facts: int = Field(10, ge=0, description="Facts kept in the prompt, best-scored first.")
    facts_template: str = Field("Facts: {facts}\n", description="How the facts block is written; needs {facts}.")
    shared_prefix: bool = Field(
        True, description="Read each prompt once in one sequence with every choice after it (a token trie with a "
        "block mask keeps the choices apart: the same scores, 3.9x faster with 10 facts in the prompt, 5.4x on "
        "120 bare CSQA questions in one call, 2.1x on one). Models whose attention takes no such mask (flash "
        "attention) or whose sliding window is shorter than `max_length` are scored batched (one padded sequence "
        "per choice).",
    )
    batch_size: int = Field(10, gt=0, description="Sequences per forward pass (choices of several questions).")
    max_length: int = Field(512, gt=8, description="Tokens of a prompt and its choice: "
                            "a longer prompt loses its first tokens, as many for every choice of the question.")

    @field_validator("template")
    @classmethod
    def _has_question_slot(cls, value: str) -> str:
        if "{question}" not in value:
            raise ValueError("must contain the placeholder {question}")
        return value

    @field_validator("facts_template")
    @classmethod
    def _has_facts_slot(cls, value: str) -> str:
        if "{facts}" not in value:
            raise ValueError("must contain the placeholder {facts}")
        return value


class DataConfig(Section):
    source: str = Field("csqa:validation", description="Packaged set name or a JSONL path.")
    limit: int | None = Field(200, gt=0, description="Evaluate the first N questions; null for all.")
    skip_invalid: bool = Field(False, description="Skip and count malformed records instead of failing.")


class ReaderConfig(Section):
    adapter: str | None = Field(
        None,
        description="A trained reader's folder (`kqa train` writes OUT/adapter; `make demo` writes "
        "runs/demo/lift/facts/adapter): the pipeline answers with it, reading the retrieved facts. null: the zero-shot "
        "scorer of `model` and `scorer`. A relative path is taken from the current directory, like `graph.path`; the "
        "command line's --adapter overrides it.",
    )


class PipelineConfig(Section):
    name: str = "default"
    reader: ReaderConfig = ReaderConfig()
    model: ModelConfig = ModelConfig()
    scorer: ScorerConfig = ScorerConfig()
    data: DataConfig = DataConfig()
    graph: GraphConfig = GraphConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    adapter: AdapterConfig = AdapterConfig()
    train: TrainConfig = TrainConfig()
    long_context: LongContextConfig = LongContextConfig()


def load_config(source: str | Path | dict | PipelineConfig | None = None) -> PipelineConfig:
    """Build a PipelineConfig from a YAML path, a dict, an existing config, or None (defaults)."""
    if isinstance(source, PipelineConfig):
        return source
    if source is None:
        return PipelineConfig()
    where = "config"
    if isinstance(source, (str, Path)):
        where = str(source)
        source = _read_yaml(Path(source))
    try:
        return PipelineConfig.model_validate(source)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {format_validation_error(exc, PipelineConfig)}") from None


def with_graph(config: PipelineConfig, graph: str | Path | None) -> PipelineConfig:
    """`config` with `graph.path` from the command line's --graph; None: unchanged."""
    if graph is None:
        return config
    return override(config, graph=override(config.graph, {"path": "--graph"}, path=str(graph)))


def _read_yaml(path: Path) -> dict:
    kind, reason = path_kind(path)
    if kind == "unusable":
        raise ConfigError(f"config file {brief(str(path))} cannot be opened: {reason}.")
    if kind != "file":
        raise ConfigError(f"config file {path} does not exist. Give a pipeline YAML such as pipelines/zero-shot.yaml "
                          f"(pipelines/ holds the others), or leave --pipeline out for the defaults.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the "
                          f"pipeline YAML as UTF-8 text.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:  # PyYAML builds nested collections recursively
        raise ConfigError(f"{path}: not valid YAML: nested too deeply for a pipeline config.") from None
    except ValueError as exc:  # a value YAML recognised but Python cannot build: 2021-02-30, a 5000-digit number
        raise ConfigError(f"{path}: not valid YAML: a value cannot be read ({str(exc).split(':')[0]}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}.")
    return data
