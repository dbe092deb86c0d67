"""The frozen backbone every adapter method reads through: plain, or 4-bit NF4 for QLoRA."""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from kqa.adapters.config import AdapterConfig
from kqa.errors import ConfigError, DeviceError, ModelUnavailableError
from kqa.models import resolve_model

CPU_ALTERNATIVE = "set `adapter.quantization: null` and keep `adapter.method: lora` (full-precision LoRA on CPU)"


def load_backbone(config: AdapterConfig) -> tuple[nn.Module, nn.Module | None]:
    """The model (hidden states only) from `config.backbone`, frozen and in eval mode; with `scoring: likelihood`
    also its LM head (the model is then loaded as a causal LM and split into its body and head)."""
    from transformers import AutoModel, AutoModelForCausalLM

    path = resolve_model(config.backbone)
    kwargs = {"dtype": getattr(torch, config.dtype)}
    if config.quantization == "nf4":
        kwargs |= {"quantization_config": nf4_config(), "dtype": torch.bfloat16, "device_map": {"": 0}}
    lm_head = None
    if config.scoring == "likelihood":
        causal = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        model, lm_head = causal.get_decoder(), causal.get_output_embeddings()
        if lm_head is None:
            raise ConfigError(f"`adapter.scoring: likelihood` needs a causal LM with an LM head; {config.backbone!r} "
                              f"has none: use `adapter.scoring: head`")
    else:
        model = AutoModel.from_pretrained(path, **kwargs)
    if config.quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.requires_grad_(False)
    return model.eval(), lm_head


def nf4_config():
    """BitsAndBytesConfig for QLoRA: NF4 with double quantization, bf16 compute."""
    if not torch.cuda.is_available():
        raise DeviceError(f"`adapter.quantization: nf4` (QLoRA) needs a CUDA GPU and none is available. On CPU, "
                          f"{CPU_ALTERNATIVE}.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelUnavailableError("`adapter.quantization: nf4` needs bitsandbytes. Fix: pip install 'kqa[gpu]'")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)
