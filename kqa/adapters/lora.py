"""Backbone loading (plain or 4-bit NF4 for QLoRA), LoRA through peft, and the optimizer (LoRA+ when asked)."""

from __future__ import annotations

import importlib.util
import logging

import torch
from torch import nn

from kqa.adapters.config import AdapterConfig, TrainConfig
from kqa.errors import DeviceError, ModelUnavailableError

logger = logging.getLogger(__name__)

DEFAULT_TARGETS = {"encoder": ["query", "value"], "decoder": ["q_proj", "v_proj"]}
CPU_ALTERNATIVE = "set `adapter.quantization: null` and keep `adapter.method: lora` (full-precision LoRA on CPU)"


def load_backbone(config: AdapterConfig) -> nn.Module:
    """AutoModel (hidden states only) from `config.backbone`, frozen and in eval mode."""
    from transformers import AutoModel

    from kqa.models import resolve_model

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


def lora_config(config: AdapterConfig, family: str, layers_pattern: str):
    """peft LoraConfig; `layers_pattern` is the name of the backbone's layer list ("layer", "layers")."""
    from peft import LoraConfig

    settings = config.lora
    pattern = layers_pattern if settings.layers_to_transform is not None else None
    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=settings.target_modules or DEFAULT_TARGETS[family],
                      layers_to_transform=settings.layers_to_transform, layers_pattern=pattern)


def apply_lora(backbone: nn.Module, config: AdapterConfig, family: str, name: str = "default") -> nn.Module:
    """Wrap the frozen backbone in a peft model with one LoRA adapter called `name`."""
    from peft import get_peft_model

    from kqa.adapters.gated import find_layers

    pattern = find_layers(backbone)[0].rpartition(".")[2]
    return get_peft_model(backbone, lora_config(config, family, pattern), adapter_name=name)


def make_optimizer(model: nn.Module, backbone: nn.Module, adapter: AdapterConfig,
                   train: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters of `model`.

    With `loraplus_lr_ratio`, the LoRA matrices of `backbone` (a peft model) come from peft's LoRA+ helper (B at
    ratio x lr) and every other trainable parameter (gated adapter, head) is one extra group at the plain lr.
    """
    if adapter.loraplus_lr_ratio is None:
        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    from peft.optimizers import create_loraplus_optimizer

    optimizer = create_loraplus_optimizer(backbone, torch.optim.AdamW, lr=train.lr,
                                          loraplus_lr_ratio=adapter.loraplus_lr_ratio,
                                          loraplus_weight_decay=train.weight_decay)
    in_backbone = {id(p) for p in backbone.parameters()}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in in_backbone]
    if rest:
        optimizer.add_param_group({"params": rest, "lr": train.lr, "weight_decay": train.weight_decay})
    return optimizer
