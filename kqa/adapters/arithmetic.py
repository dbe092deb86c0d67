"""Adapter arithmetic: weighted sums of saved adapters as task vectors, negation included.

A task vector is what training changed: tau = theta - theta_0, where theta_0 is the set's seeded initialisation
(what `build_model(config, seed)` creates; for LoRA that is a zero update, B = 0). Combining adapters i with weights
w_i gives

- LoRA / LoRA-FA matrices: peft `add_weighted_adapter`, by default "cat" (exact: delta W = sum_i w_i B_i A_i, rank =
  sum of the ranks; "linear" keeps the rank but mixes A and B separately, which is exact only for one adapter);
- every other tensor (gated adapter, head, (IA)^3 vectors, prompt encoders): theta_0 + sum_i w_i (theta_i - theta_0).

Weights summing to 1 average the adapters; a negative weight subtracts a task vector (`--weights 1 -1`: A minus B).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from kqa.adapters.model import build_model
from kqa.adapters.saving import (
    check_compatible,
    load_trainable_state,
    read_adapter,
    trainable_state,
    write_adapter,
)
from kqa.errors import InputError

logger = logging.getLogger(__name__)
COMBINATION_TYPES = ("cat", "linear")


@dataclass(frozen=True)
class CombineResult:
    path: Path
    sources: tuple[str, ...]
    weights: tuple[float, ...]
    lora_rank: int | None  # rank of the combined LoRA (None without LoRA)


class AdapterCombiner:
    """Write the weighted combination of saved adapters (same backbone, method and architecture) to a folder."""

    def __init__(self, combination_type: str = "cat"):
        if combination_type not in COMBINATION_TYPES:
            raise InputError(f"`combination_type` {combination_type!r} is not supported; use one of "
                             f"{list(COMBINATION_TYPES)}.")
        self.combination_type = combination_type

    def run(self, folders: Sequence[str | Path], weights: Sequence[float], out: str | Path) -> CombineResult:
        if not folders or len(folders) != len(weights):
            raise InputError(f"--weights: got {len(weights)} weights for {len(folders)} adapters; give one weight "
                             f"per adapter, e.g. `kqa adapters combine A B --weights 0.7 0.3 --out C`.")
        saved = [read_adapter(f) for f in folders]
        _check_common_start(saved)
        config, start = saved[0].config, saved[0].reference_config
        model, _ = build_model(start, seed=saved[0].init_seed, name="reference")
        reference = trainable_state(model)  # theta_0 of every tensor (LoRA's included, unused)
        state = {k: _combine(ref, [s.weights[k] for s in saved], weights)
                 for k, ref in reference.items() if not k.startswith("lora.")}
        rank = None
        if config.uses_lora:
            lora, rank = self._combine_lora(model, saved, weights)
            state |= lora
            config = config.model_copy(update={"lora": config.lora.model_copy(update={"r": rank, "alpha": float(
                model.backbone.peft_config["combined"].lora_alpha)})})
        sources = tuple(str(s.path) for s in saved)
        checksums = {s.meta.get("graph_checksum") for s in saved}
        meta = {"init_seed": saved[0].init_seed, "reference_adapter": start.model_dump(mode="json"),
                "graph_checksum": checksums.pop() if len(checksums) == 1 else None,
                "combined_from": [{"adapter": p, "weight": w} for p, w in zip(sources, weights)]}
        path = write_adapter(out, config, state, meta)
        logger.info("combined %s with weights %s into %s", sources, list(weights), path)
        return CombineResult(path, sources, tuple(weights), rank)

    def _combine_lora(self, model, saved, weights) -> tuple[dict[str, torch.Tensor], int]:
        from peft.utils import get_peft_model_state_dict

        names = []
        for i, adapter in enumerate(saved):
            names.append(f"source{i}")
            model.add_adapter(names[-1], peft_settings=adapter.config)
            load_trainable_state(model, adapter.weights, names[-1])
        model.backbone.add_weighted_adapter(names, list(weights), "combined", combination_type=self.combination_type)
        lora = get_peft_model_state_dict(model.backbone, adapter_name="combined")
        return {f"lora.{k}": v.detach().cpu().contiguous() for k, v in lora.items()}, \
            model.backbone.peft_config["combined"].r


def _combine(reference: torch.Tensor, tensors: list[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """theta_0 + sum_i w_i (theta_i - theta_0), in float32."""
    base = reference.float()
    total = base.clone()
    for tensor, weight in zip(tensors, weights):
        total += weight * (tensor.float() - base)
    return total.to(reference.dtype).contiguous()


def _check_common_start(saved) -> None:
    """Task vectors add up only from one starting point: same config (LoRA rank aside) and same init seed."""
    for other in saved[1:]:
        check_compatible(saved[0].config, other)
    seeds = sorted({s.init_seed for s in saved})
    starts = {json.dumps(s.reference_config.model_dump(mode="json"), sort_keys=True) for s in saved}
    if len(starts) > 1:
        raise InputError("the adapters start from different configs (e.g. LoRA rank, see `reference_adapter` or "
                         "`adapter` in their adapter_config.json); task vectors need one start: combine adapters "
                         "trained with the same config.")
    if len(seeds) > 1:
        raise InputError(f"the adapters start from different initialisations (init_seed {seeds} in their "
                         f"adapter_config.json); task vectors need one start: train them with the same `train.seed`.")
