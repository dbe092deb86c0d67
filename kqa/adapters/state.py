"""A trainable set as named tensors and back: what `adapter.safetensors` holds, keyed by part (see fileformat.PARTS)."""

from __future__ import annotations

import torch

from kqa.adapters.config import AdapterConfig
from kqa.adapters.fileformat import PARTS
from kqa.adapters.model import KnowledgeModel
from kqa.adapters.peft_methods import is_peft_key, load_peft_state, peft_state
from kqa.errors import StoreError


def peft_prefix(config: AdapterConfig) -> str:
    return "lora" if config.uses_lora else "peft"


def trainable_state(model: KnowledgeModel, name: str | None = None) -> dict[str, torch.Tensor]:
    """The weights of one trainable set, on CPU, keyed by part."""
    name = name or model.active
    state = {f"head.{k}": v for k, v in model.heads[name].state_dict().items()}
    if model.config.uses_gated:
        state |= {f"gated.{k}": v for k, v in model.adapters[name].state_dict().items()}
    if model.config.peft_method is not None and not model.merged:
        prefix = peft_prefix(model.config)
        state |= {f"{prefix}.{k}": v for k, v in peft_state(model.backbone, model.config, name).items()}
    # long_context training unfreezes embeddings and norms (LongLoRA's "trainable_params"): they belong to the set
    state |= {f"unfrozen.{k}": p for k, p in model.backbone.named_parameters() if p.requires_grad and not is_peft_key(k)}
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def load_trainable_state(model: KnowledgeModel, state: dict[str, torch.Tensor], name: str | None = None) -> None:
    """Inverse of `trainable_state`; every key must land somewhere."""
    name = name or model.active
    parts = {p: {k[len(p) + 1 :]: v for k, v in state.items() if k.startswith(p + ".")} for p in PARTS}
    model.heads[name].load_state_dict(parts["head"])
    if model.config.uses_gated:
        model.adapters[name].load_state_dict(parts["gated"])
    if model.config.peft_method is not None:
        load_peft_state(model.backbone, model.config, parts[peft_prefix(model.config)], name)
    if parts["unfrozen"]:
        _load_unfrozen(model, parts["unfrozen"])
        model.unfrozen_from = name


def _load_unfrozen(model: KnowledgeModel, unfrozen: dict[str, torch.Tensor]) -> None:
    backbone = dict(model.backbone.named_parameters())
    missing = sorted(set(unfrozen) - set(backbone))
    if missing:
        raise StoreError(f"unfrozen backbone weights do not fit the backbone: unknown names {missing[:3]}")
    with torch.no_grad():
        for key, value in unfrozen.items():
            backbone[key].copy_(value)
