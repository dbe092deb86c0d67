"""Tiny config-built backbones and helpers shared by the PEFT-family tests."""

from __future__ import annotations

import torch

from tests.test_adapter_model import backbone_dir, tiny_bert_dir  # noqa: F401 (the same fixtures, shared)


def perturb(model, seed: int, scale: float = 0.1) -> None:
    """Move every trainable tensor of the active set away from its initialisation (a stand-in for training)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            if param.requires_grad:
                param.add_(torch.randn(param.shape, generator=generator) * scale)
