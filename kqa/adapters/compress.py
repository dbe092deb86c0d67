"""`kqa adapters compress`: write a saved adapter's task vector as sparse ternary entries (kqa.adapters.ternary).

The result is an ordinary adapter folder holding `adapter.compressed.safetensors`; reading it (kqa.adapters.saving)
expands the weights again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from kqa.adapters.fileformat import COMPRESSED, WEIGHTS, write_adapter
from kqa.adapters.saving import read_adapter
from kqa.adapters.ternary import decompress, expand, pack, reference_state, ternarize
from kqa.errors import InputError, StoreError

__all__ = ["AdapterCompressor", "CompressionReport", "decompress", "reference_state", "ternarize"]
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
            squared_error += float((expand(mask, sign, scale) - tau).pow(2).sum())
            squared_norm += float(tau.pow(2).sum())
        packed = {"mask": pack(torch.cat(masks)), "signs": pack(torch.cat(signs)), "scales": torch.stack(scales)}
        meta = saved.meta | {"compression": {"method": "compeft", "density": self.density, "source": str(saved.path),
                                             "tensors": {k: shapes[k] for k in keys}}}
        path = write_adapter(out, saved.config, packed, meta, weights_file=COMPRESSED)
        source = saved.path / WEIGHTS if (saved.path / WEIGHTS).is_file() else saved.path / COMPRESSED
        return CompressionReport(path, self.density, source.stat().st_size, (path / COMPRESSED).stat().st_size,
                                 math.sqrt(squared_error / max(squared_norm, 1e-30)))


def _check_keys(weights: dict, reference: dict, path: Path) -> None:
    missing, extra = sorted(set(reference) - set(weights)), sorted(set(weights) - set(reference))
    if missing or extra:
        raise StoreError(f"{path}: the weights do not match a fresh set of its config (missing {missing[:3]}, "
                         f"unexpected {extra[:3]}); was the file edited?")
