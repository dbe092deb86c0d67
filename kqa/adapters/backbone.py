"""The frozen backbone every adapter method reads through: plain, or 4-bit NF4 for QLoRA."""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from kqa.adapters.config import AdapterConfig
from kqa.errors import DeviceError, ModelUnavailableError
from kqa.models import resolve_model

CPU_ALTERNATIVE = "set `adapter.quantization: null` and keep `adapter.method: lora` (full-precision LoRA on CPU)"


def load_backbone(config: AdapterConfig) -> nn.Module:
    """AutoModel (hidden states only) from `config.backbone`, frozen and in eval mode."""
    from transformers import AutoModel

    path = resolve_model(config.backbone)
    kwargs = {"dtype": getattr(torch, config.dtype)}
    if config.quantization == "nf4":
        kwargs |= {"quantization_config": nf4_config(), "dtype": torch.bfloat16, "device_map": {"": 0}}
    model = AutoModel.from_pretrained(path, **kwargs)
    if config.quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.requires_grad_(False)
    return model.eval()


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
