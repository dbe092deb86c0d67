"""The optimizer of every adapter method: AdamW, with peft's LoRA+ or LoRA-FA groups when the config asks."""

from __future__ import annotations

import torch
from torch import nn

from kqa.adapters.config import AdapterConfig, TrainConfig


def make_optimizer(model: nn.Module, backbone: nn.Module, adapter: AdapterConfig,
                   train: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters of `model`.

    With `loraplus_lr_ratio`, the LoRA matrices of `backbone` (a peft model) come from peft's LoRA+ helper (B at
    ratio x lr); with `lora-fa`, from peft's LoRA-FA optimizer (A frozen, B's gradient projected). Every other
    trainable parameter (gated adapter, head) is one extra group at the plain lr.
    """
    if adapter.peft_method == "lora-fa":
        return _lorafa_optimizer(model, backbone, adapter, train)
    if adapter.loraplus_lr_ratio is None:
        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    from peft.optimizers import create_loraplus_optimizer

    optimizer = create_loraplus_optimizer(backbone, torch.optim.AdamW, lr=train.lr,
                                          loraplus_lr_ratio=adapter.loraplus_lr_ratio,
                                          loraplus_weight_decay=train.weight_decay)
    rest = _outside(model, backbone)
    if rest:
        optimizer.add_param_group({"params": rest, "lr": train.lr, "weight_decay": train.weight_decay})
    return optimizer


def _lorafa_optimizer(model: nn.Module, backbone: nn.Module, adapter: AdapterConfig,
                      train: TrainConfig) -> torch.optim.Optimizer:
    """peft's LoRA-FA optimizer over the active LoRA pairs only (it pairs consecutive lora_A/lora_B parameters, so
    no other adapter's frozen pair may sit in its group); the parts outside the backbone train as plain AdamW."""
    from peft.optimizers import create_lorafa_optimizer

    optimizer = create_lorafa_optimizer(backbone, r=adapter.lora.r, lora_alpha=adapter.lora.alpha, lr=train.lr,
                                        weight_decay=train.weight_decay)
    group = optimizer.param_groups[0]
    active = backbone.active_adapter
    keep = [i for i, n in enumerate(group["names"])
            if (".lora_" in n and f".{active}." in n) or (".lora_" not in n and group["params"][i].requires_grad)]
    for key in ("params", "names", "scaling_factors"):
        group[key] = [group[key][i] for i in keep]
    rest = _outside(model, backbone)
    if rest:  # LoraFAOptimizer reads names and scaling factors from every group; None = not LoRA: plain AdamW
        optimizer.add_param_group({"params": rest, "names": [f"rest.{i}" for i in range(len(rest))],
                                   "scaling_factors": [None] * len(rest), "lr": train.lr,
                                   "weight_decay": train.weight_decay})
    return optimizer


def _outside(model: nn.Module, backbone: nn.Module) -> list[nn.Parameter]:
    in_backbone = {id(p) for p in backbone.parameters()}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in in_backbone]
