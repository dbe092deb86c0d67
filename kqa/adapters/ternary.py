"""The codec of compressed adapters (ComPEFT, Yadav et al. 2023): sparse, ternary task vectors and back.

For every tensor of a saved adapter, the update tau = theta - theta_0 (theta_0: the seeded initialisation, rebuilt
from the config, see kqa.adapters.arithmetic) keeps its top `density` share of entries by magnitude; each kept entry
is stored as its sign only, and the tensor as one scale: tau^ = scale * sign * mask, scale = mean |tau| over the
kept entries (the least-squares scale for that sign pattern; ComPEFT tunes a multiple of std(tau) on data instead).

On disk (`adapter.compressed.safetensors`): the bit-packed masks of all tensors (concatenated in the order listed in
adapter_config.json), the bit-packed signs of the kept entries, and one float32 scale per tensor, i.e. about
(1 + density) bits per parameter instead of 32. Reading a folder (kqa.adapters.saving) expands them here; writing
them is kqa.adapters.compress.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from kqa.adapters.config import AdapterConfig
from kqa.adapters.fileformat import init_seed, reference_config
from kqa.adapters.model import build_model
from kqa.adapters.state import trainable_state
from kqa.errors import StoreError


def ternarize(tau: torch.Tensor, density: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mask of the top-k |tau|, sign bits of the kept entries in order, scale) for a flat tensor tau (n,)."""
    k = min(len(tau), max(1, math.ceil(density * len(tau))))
    mask = torch.zeros(len(tau), dtype=torch.bool)
    mask[torch.topk(tau.abs(), k).indices] = True
    kept = tau[mask]  # (k,) in index order
    return mask, kept > 0, kept.abs().mean().to(torch.float32)


def decompress(packed: dict[str, torch.Tensor], config: AdapterConfig, meta: dict) -> dict[str, torch.Tensor]:
    """theta_0 + tau^ for every tensor of the set (the reference is rebuilt from the config and the init seed)."""
    shapes = meta["compression"]["tensors"]
    reference = reference_state(reference_config(meta), init_seed(meta), shapes)
    keys = sorted(shapes)
    if sorted(reference) != keys:
        raise StoreError(f"compressed adapter: its tensors {keys[:3]}... are not those of its config "
                         f"{sorted(reference)[:3]}...; compress the original adapter again.")
    sizes = [reference[k].numel() for k in keys]
    masks = unpack(packed["mask"], sum(sizes)).split(sizes)
    signs = unpack(packed["signs"], int(sum(m.sum() for m in masks))).split([int(m.sum()) for m in masks])
    out = {}
    for key, mask, sign, scale in zip(keys, masks, signs, packed["scales"]):
        ref = reference[key]
        out[key] = (ref.float() + expand(mask, sign, scale).view(ref.shape)).to(ref.dtype)
    return out


def reference_state(config: AdapterConfig, seed: int, shapes: dict[str, list[int]] | None = None
                    ) -> dict[str, torch.Tensor]:
    """The trainable set as `build_model(config, seed)` initialises it: theta_0 of every task vector. A tensor whose
    shape differs from `shapes` (the LoRA matrices of a combined adapter, whose rank grew) has the reference 0."""
    model, _ = build_model(config, seed=seed)
    state = trainable_state(model)
    for key, shape in (shapes or {}).items():
        if key in state and list(state[key].shape) != list(shape):
            state[key] = torch.zeros(shape, dtype=state[key].dtype)
    return state


def expand(mask: torch.Tensor, signs: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """tau^ (n,) from a mask (n,), the signs of its kept entries and the scale."""
    tau = torch.zeros(len(mask), dtype=torch.float32)
    tau[mask] = scale * (signs.float() * 2 - 1)
    return tau


def pack(bits: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.packbits(bits.numpy().astype(np.uint8)))


def unpack(packed: torch.Tensor, n: int) -> torch.Tensor:
    return torch.from_numpy(np.unpackbits(packed.numpy())[:n].astype(bool))
