"""Adapter compression after ComPEFT (Yadav et al. 2023): sparse, ternary task vectors.

For every tensor of a saved adapter, the update tau = theta - theta_0 (theta_0: the seeded initialisation, rebuilt
from the config, see kqa.adapters.arithmetic) keeps its top `density` share of entries by magnitude; each kept entry
is stored as its sign only, and the tensor as one scale: tau^ = scale * sign * mask, scale = mean |tau| over the
kept entries (the least-squares scale for that sign pattern; ComPEFT tunes a multiple of std(tau) on data instead).

On disk (`adapter.compressed.safetensors`): the bit-packed masks of all tensors (concatenated in the order listed in
adapter_config.json), the bit-packed signs of the kept entries, and one float32 scale per tensor, i.e. about
(1 + density) bits per parameter instead of 32.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kqa.adapters.config import AdapterConfig
from kqa.errors import InputError, StoreError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompressionReport:
    path: Path
    density: float
    bytes_before: int  # size of the weights file that was read
    bytes_after: int  # size of adapter.compressed.safetensors
    relative_error: float  # ||tau^ - tau|| / ||tau|| over all tensors

    @property
    def ratio(self) -> float:
        return self.bytes_before / max(self.bytes_after, 1)


class AdapterCompressor:
    """Compress a saved adapter's task vector to `density` ternary entries per tensor; the result loads as usual."""

    def __init__(self, density: float):
        if not 0 < density <= 1:
            raise InputError(f"--density must be in (0, 1], got {density}; e.g. 0.1 keeps the 10% largest updates.")
        self.density = density

    def run(self, folder: str | Path, out: str | Path) -> CompressionReport:
        from kqa.adapters.saving import COMPRESSED, WEIGHTS, read_adapter, write_adapter

        saved = read_adapter(folder)
        shapes = {k: list(v.shape) for k, v in saved.weights.items()}
        reference = reference_state(saved.reference_config, saved.init_seed, shapes)
        _check_keys(saved.weights, reference, saved.path)
        keys, masks, signs, scales, squared_error, squared_norm = sorted(reference), [], [], [], 0.0, 0.0
        for key in keys:
            tau = (saved.weights[key].float() - reference[key].float()).flatten()
            mask, sign, scale = ternarize(tau, self.density)
            masks.append(mask)
            signs.append(sign)
            scales.append(scale)
            squared_error += float((_expand(mask, sign, scale) - tau).pow(2).sum())
            squared_norm += float(tau.pow(2).sum())
        packed = {"mask": _pack(torch.cat(masks)), "signs": _pack(torch.cat(signs)), "scales": torch.stack(scales)}
        meta = saved.meta | {"compression": {"method": "compeft", "density": self.density, "source": str(saved.path),
                                             "tensors": {k: shapes[k] for k in keys}}}
        path = write_adapter(out, saved.config, packed, meta, weights_file=COMPRESSED)
        source = saved.path / WEIGHTS if (saved.path / WEIGHTS).is_file() else saved.path / COMPRESSED
        return CompressionReport(path, self.density, source.stat().st_size, (path / COMPRESSED).stat().st_size,
                                 math.sqrt(squared_error / max(squared_norm, 1e-30)))


def ternarize(tau: torch.Tensor, density: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mask of the top-k |tau|, sign bits of the kept entries in order, scale) for a flat tensor tau (n,)."""
    k = min(len(tau), max(1, math.ceil(density * len(tau))))
    mask = torch.zeros(len(tau), dtype=torch.bool)
    mask[torch.topk(tau.abs(), k).indices] = True
    kept = tau[mask]  # (k,) in index order
    return mask, kept > 0, kept.abs().mean().to(torch.float32)


def decompress(packed: dict[str, torch.Tensor], config: AdapterConfig, meta: dict) -> dict[str, torch.Tensor]:
    """theta_0 + tau^ for every tensor of the set (the reference is rebuilt from the config and the init seed)."""
    from kqa.adapters.saving import init_seed, reference_config

    shapes = meta["compression"]["tensors"]
    reference = reference_state(reference_config(meta), init_seed(meta), shapes)
    keys = sorted(shapes)
    if sorted(reference) != keys:
        raise StoreError(f"compressed adapter: its tensors {keys[:3]}... are not those of its config "
                         f"{sorted(reference)[:3]}...; compress the original adapter again.")
    sizes = [reference[k].numel() for k in keys]
    masks = _unpack(packed["mask"], sum(sizes)).split(sizes)
    signs = _unpack(packed["signs"], int(sum(m.sum() for m in masks))).split([int(m.sum()) for m in masks])
    out = {}
    for key, mask, sign, scale in zip(keys, masks, signs, packed["scales"]):
        ref = reference[key]
        out[key] = (ref.float() + _expand(mask, sign, scale).view(ref.shape)).to(ref.dtype)
    return out


def reference_state(config: AdapterConfig, seed: int, shapes: dict[str, list[int]] | None = None
                    ) -> dict[str, torch.Tensor]:
    """The trainable set as `build_model(config, seed)` initialises it: theta_0 of every task vector. A tensor whose
    shape differs from `shapes` (the LoRA matrices of a combined adapter, whose rank grew) has the reference 0."""
    from kqa.adapters.model import build_model
    from kqa.adapters.saving import trainable_state

    model, _ = build_model(config, seed=seed)
    state = trainable_state(model)
    for key, shape in (shapes or {}).items():
        if key in state and list(state[key].shape) != list(shape):
            state[key] = torch.zeros(shape, dtype=state[key].dtype)
    return state


def _expand(mask: torch.Tensor, signs: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    tau = torch.zeros(len(mask), dtype=torch.float32)
    tau[mask] = scale * (signs.float() * 2 - 1)
    return tau


def _pack(bits: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.packbits(bits.numpy().astype(np.uint8)))


def _unpack(packed: torch.Tensor, n: int) -> torch.Tensor:
    return torch.from_numpy(np.unpackbits(packed.numpy())[:n].astype(bool))


def _check_keys(weights: dict, reference: dict, path: Path) -> None:
    missing, extra = sorted(set(reference) - set(weights)), sorted(set(weights) - set(reference))
    if missing or extra:
        raise StoreError(f"{path}: the weights do not match a fresh set of its config (missing {missing[:3]}, "
                         f"unexpected {extra[:3]}); was the file edited?")
