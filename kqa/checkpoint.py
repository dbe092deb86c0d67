"""Resumable training checkpoints: out/checkpoints/step-N/{trainable.safetensors, optimizer.pt, progress.json}
and out/checkpoints/latest naming the newest. A checkpoint holds the trainable weights, the optimizer, the scheduler,
the RNG state and the loop's TrainState, so a resumed run continues with exactly the uninterrupted run's losses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kqa.adapters.model import KnowledgeModel
from kqa.adapters.saving import load_trainable_state, trainable_state
from kqa.atomic import atomic_text, sync_folder
from kqa.errors import StoreError

logger = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Where the loop is, besides the weights (mutable: the loop advances it)."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    losses: list[float] = field(default_factory=list)
    dev_accuracy: list[float] = field(default_factory=list)
    best_accuracy: float = -1.0
    best_epoch: int | None = None
    bad_epochs: int = 0


class Checkpoints:
    """The checkpoints of one training run under `out/checkpoints`, keeping the newest `keep`."""

    def __init__(self, out: str | Path, keep: int = 2):
        self.root = Path(out) / "checkpoints"
        self.keep = keep

    def save(self, model: KnowledgeModel, optimizer, scheduler, state: TrainState) -> Path:
        final = self.root / f"step-{state.global_step:08d}"
        tmp = self.root / f".tmp-{final.name}"  # a folder: filled, then renamed in one step
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
        rng = {"torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng},
                   tmp / "optimizer.pt")
        (tmp / "progress.json").write_text(json.dumps(asdict(state)) + "\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        sync_folder(self.root)
        atomic_text(self.root / "latest", final.name)
        for old in sorted(self.root.glob("step-*"))[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, model: KnowledgeModel, optimizer, scheduler) -> TrainState:
        """Restore the newest checkpoint into model, optimizer, scheduler and the RNGs; returns its TrainState."""
        pointer = self.root / "latest"
        if not pointer.is_file():
            raise StoreError(f"--resume: no checkpoint in {self.root}. Point --out at the interrupted run's folder, "
                             f"or run without --resume to start.")
        folder = self.root / pointer.read_text(encoding="utf-8").strip()
        missing = [name for name in ("trainable.safetensors", "optimizer.pt", "progress.json")
                   if not (folder / name).is_file()]
        if missing:
            raise StoreError(f"--resume: checkpoint {folder} (named by {pointer}) lacks {', '.join(missing)}. Run "
                             f"without --resume to start again, or restore the folder.")
        load_trainable_state(model, load_file(str(folder / "trainable.safetensors")))
        saved = torch.load(folder / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"])
        if saved["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
        state = TrainState(**json.loads((folder / "progress.json").read_text(encoding="utf-8")))
        logger.info("resuming from %s (step %d, epoch %d)", folder, state.global_step, state.epoch + 1)
        return state
