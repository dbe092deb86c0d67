"""Frozen-prefix activation cache: the input of the first adapted layer, computed once per training example.

Nothing below the first adapted layer is trainable and the backbone runs in eval mode, so these activations are
the same every epoch. They are stored without padding, one (T_i, d) block per (question, choice) sequence, in
memory or -- above `memory_mb` -- in a numpy memmap file, and re-padded per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from kqa.adapters.encoding import EncodedQuestion, collate

logger = logging.getLogger(__name__)


class ActivationCache:
    """Per-example hidden states entering the first adapted layer; `prefix(indices, width)` rebuilds a batch's."""

    def __init__(self, store: np.ndarray, offsets: list[list[tuple[int, int]]]):
        self.store = store  # (total real tokens, d) float32, in memory or memory-mapped
        self.offsets = offsets  # per example, per choice: (start row, length)

    @classmethod
    def build(cls, model, examples: Sequence[EncodedQuestion], pad_id: int, *, batch_size: int = 8,
              memory_mb: int = 512, folder: Path | None = None) -> ActivationCache:
        """Run the frozen lower layers once over `examples` (in order) and keep their output."""
        offsets, total = _layout(examples)
        nbytes = total * model.hidden * 4
        store = _allocate(total, model.hidden, nbytes > memory_mb * 2**20 and folder is not None, folder)
        was_training = model.training
        model.eval()
        for start in range(0, len(examples), batch_size):
            part = examples[start : start + batch_size]
            batch = collate(part, pad_id).to(_device(model))
            states = model.capture_prefix(batch).cpu().numpy()  # (N, T, d)
            rows = [o for item in offsets[start : start + batch_size] for o in item]
            for seq, (begin, length) in enumerate(rows):
                store[begin : begin + length] = states[seq, :length]
        model.train(was_training)
        logger.info("activation cache: %d tokens x %d = %.1f MB (%s)", total, model.hidden, nbytes / 2**20,
                    "memory-mapped" if isinstance(store, np.memmap) else "in memory")
        return cls(store, offsets)

    def prefix(self, indices: Sequence[int], width: int) -> torch.Tensor:
        """Cached states of the examples `indices`, right-padded with zeros to `width` tokens -> (N, width, d)."""
        rows = [o for i in indices for o in self.offsets[i]]
        out = torch.zeros((len(rows), width, self.store.shape[1]), dtype=torch.float32)
        for seq, (begin, length) in enumerate(rows):
            out[seq, :length] = torch.from_numpy(np.asarray(self.store[begin : begin + length]))
        return out

    @property
    def nbytes(self) -> int:
        return int(self.store.nbytes)


def _layout(examples: Sequence[EncodedQuestion]) -> tuple[list[list[tuple[int, int]]], int]:
    offsets, total = [], 0
    for item in examples:
        row = []
        for pair in item.pairs:
            row.append((total, len(pair)))
            total += len(pair)
        offsets.append(row)
    return offsets, total


def _allocate(rows: int, width: int, on_disk: bool, folder: Path | None) -> np.ndarray:
    if not on_disk:
        return np.zeros((rows, width), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    return np.memmap(folder / "activation_cache.f32", dtype=np.float32, mode="w+", shape=(rows, width))


def _device(model) -> torch.device:
    return next(model.parameters()).device
