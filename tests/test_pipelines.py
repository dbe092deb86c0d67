"""The shipped pipelines (issue #10): each is valid and means what its comments say; CPU ones build and run."""

from pathlib import Path

import pytest
import torch

from kqa.adapters.encoding import collate, pad_id
from kqa.adapters.model import build_model
from kqa.config import load_config
from kqa.errors import DeviceError
from kqa.models import REGISTRY
from kqa.train import Trainer
from tests.test_adapter_model import FakeRetriever
from tests.test_train import QUESTIONS

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
CPU_PIPELINES = ["default", "zero-shot", "encoder-facts", "encoder-kpe", "decoder-lora", "long-context"]


def load(name: str):
    return load_config(PIPELINES / f"{name}.yaml")


def test_the_five_documented_pipelines_are_shipped():
    shipped = {p.stem for p in PIPELINES.glob("*.yaml")}
    assert {"default", "encoder-kpe", "decoder-lora", "gpu-qlora", "long-context"} <= shipped


@pytest.mark.parametrize("name", CPU_PIPELINES)
def test_cpu_pipelines_use_packaged_models_on_cpu(name):
    config = load(name)
    assert config.model.device == "cpu" and config.adapter.quantization is None
    assert config.model.name in REGISTRY and config.adapter.backbone in REGISTRY


def test_default_answers_with_the_readers_make_demo_trains():
    from kqa.demo import DemoConfig

    config, trained = load("default"), load("encoder-facts")
    demo = DemoConfig()
    assert Path(config.reader.adapter) == Path(demo.out) / "lift" / "facts" / "adapter"
    assert config.graph.path == demo.graph and demo.adapter_pipeline == "pipelines/encoder-facts.yaml"
    assert config.retrieval == trained.retrieval  # a reader reads facts retrieved the way it was trained on


def test_a_missing_trained_reader_says_how_to_make_it(tmp_path):
    from kqa.errors import ConfigError
    from kqa.pipeline import KQAPipeline

    missing = tmp_path / "runs" / "adapter"
    with pytest.raises(ConfigError, match=r"`reader\.adapter` is '.*runs/adapter', and there is no such folder \(relative to .*\)\. "
                                          r".*run `make demo` first\), or pass --adapter DIR.*reader\.adapter: null"):
        KQAPipeline.from_config({"reader": {"adapter": str(missing)}})


def test_encoder_kpe_is_minilm_with_a_gated_adapter_on_its_top_layers():
    config = load("encoder-kpe")
    assert (config.model.name, config.adapter.backbone, config.adapter.method) == ("minilm-l6", "minilm-l6", "gated")
    assert config.adapter.layer_indices(6) == [3, 4, 5]  # MiniLM-L6 has 6 layers
    assert config.train.activation_cache  # layers 0-2 hold nothing trainable


def test_decoder_lora_keeps_lora_inside_the_adapted_layers():
    config = load("decoder-lora")
    assert (config.adapter.backbone, config.adapter.method) == ("smollm2-135m", "gated+lora")
    # the activation cache is exact only when nothing below the first adapted layer trains
    assert config.adapter.layer_indices(30) == config.adapter.lora.layers_to_transform == [26, 27, 28, 29]
    assert config.train.activation_cache and config.adapter.loraplus_lr_ratio


def test_gpu_qlora_is_nf4_lora_on_cuda_for_any_hub_model():
    config = load("gpu-qlora")
    assert config.adapter.quantization == "nf4" and config.adapter.uses_lora
    assert config.model.device.startswith("cuda")
    assert {"q_proj", "v_proj", "down_proj"} <= set(config.adapter.lora.target_modules)
    assert config.train.gradient_checkpointing  # QLoRA's memory saving needs it (benchmarks/results/qlora*.json)
    raw = config.model_dump(mode="json")
    raw["adapter"]["backbone"] = raw["model"]["name"] = "HuggingFaceTB/SmolLM2-1.7B-Instruct"  # a hub id is allowed
    assert load_config(raw).adapter.backbone == "HuggingFaceTB/SmolLM2-1.7B-Instruct"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_gpu_qlora_on_cpu_stops_and_names_the_cpu_alternative(tiny_llama_dir):
    adapter = load("gpu-qlora").adapter.model_copy(update={"backbone": str(tiny_llama_dir)})
    with pytest.raises(DeviceError, match=r"needs a CUDA GPU .* `adapter.quantization: null`"):
        build_model(adapter)


def test_long_context_is_s2_attn_lora_on_a_llama_decoder():
    config = load("long-context")
    assert config.long_context.enabled and config.long_context.group_size_ratio == 0.25
    assert config.long_context.target_length == 4 * 8192  # SmolLM2's native context, interpolated 4x
    assert config.adapter.method == "lora" and not config.train.activation_cache
    assert config.graph.path  # the documents are retrieved facts


def test_long_context_sections_train_a_step_on_a_tiny_llama(tiny_llama_dir, tmp_path):
    config = load("long-context")
    adapter = config.adapter.model_copy(update={"backbone": str(tiny_llama_dir)})
    train = config.train.model_copy(update={"max_steps": 1, "max_length": 96, "checkpoint_every": 100})
    result = Trainer(adapter, train, FakeRetriever(), progress=False, long_context=config.long_context).run(
        QUESTIONS, tmp_path)
    assert result.steps == 1 and all(map(torch.isfinite, map(torch.tensor, result.losses)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["encoder-kpe", "decoder-lora"])
def test_packaged_adapter_pipelines_build_and_score(name):
    config = load(name)
    model, tokenizer = build_model(config.adapter)
    assert model.trainable_parameters() > 0
    assert not any(p.requires_grad for n, p in model.backbone.named_parameters() if "lora_" not in n)
    encoder = model.make_encoder(tokenizer, 64)
    batch = collate([encoder.encode(q, FakeRetriever().run(q)) for q in QUESTIONS[:2]], pad_id(tokenizer))
    model.eval()
    with torch.no_grad():
        logits = model(batch)  # (questions, max choices)
    assert logits.shape == (2, 4)  # the first question has 3 choices: its 4th logit is padding (-inf)
    assert torch.isfinite(logits[0, :3]).all() and torch.isfinite(logits[1]).all() and logits[0, 3] == -torch.inf
