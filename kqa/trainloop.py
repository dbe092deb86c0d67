"""The epoch/step loop of kqa.train.Trainer: seeded shuffling per epoch, sharding per process (accelerate),
checkpoints, dev accuracy after each epoch with early stopping, and the best weights kept as best.safetensors."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from safetensors.torch import save
from tqdm.auto import tqdm

from kqa.adapters.cache import ActivationCache
from kqa.adapters.config import TrainConfig
from kqa.adapters.encoding import EncodedQuestion, collate
from kqa.adapters.model import KnowledgeModel
from kqa.adapters.saving import trainable_state
from kqa.atomic import atomic_write
from kqa.checkpoint import Checkpoints, TrainState

logger = logging.getLogger(__name__)
GROUP_BATCHES = 10  # train.group_by_length: sorting within 10 batches removes most padding, keeps most of the shuffle


class TrainLoop:
    """The epoch/step loop: shuffling per epoch, sharding per process, checkpoints, dev evaluation."""

    def __init__(self, ddp_model, model: KnowledgeModel, optimizer, scheduler, accelerator, config: TrainConfig,
                 pad: int, cache: ActivationCache | None, n_train: int, checkpoints: Checkpoints):
        self.ddp_model, self.model, self.optimizer, self.scheduler = ddp_model, model, optimizer, scheduler
        self.accelerator, self.config, self.pad, self.cache, self.n_train = accelerator, config, pad, cache, n_train
        self.checkpoints = checkpoints
        self.examples = 0  # training examples seen in this call (for examples/s)

    def run(self, state: TrainState, train, dev, out: Path, tracker, progress: bool) -> list[float]:
        cfg, seconds = self.config, []
        total = -(-len(train) // cfg.batch_size) * cfg.epochs
        bar = tqdm(total=total, initial=state.global_step, desc="training", unit="step",
                   disable=not progress or not self.accelerator.is_main_process)
        while state.epoch < cfg.epochs and not self._stopped(state):
            began = time.perf_counter()
            for indices in self._batches(state.epoch, train)[state.step_in_epoch :]:
                loss = self._step(train, indices)
                self.examples += len(indices)
                state.step_in_epoch, state.global_step = state.step_in_epoch + 1, state.global_step + 1
                state.losses.append(loss)
                tracker.log({"train/loss": loss, "train/lr": self.scheduler.get_last_lr()[0]}, state.global_step)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if state.global_step % cfg.checkpoint_every == 0:
                    self._checkpoint(out, state)
                if self._stopped(state):
                    break
            else:
                self._end_epoch(state, dev, out, tracker)
            seconds.append(time.perf_counter() - began)
        bar.close()
        return seconds

    def _stopped(self, state: TrainState) -> bool:
        limit = self.config.max_steps is not None and state.global_step >= self.config.max_steps
        return limit or state.bad_epochs >= self.config.patience

    def _batches(self, epoch: int, train: list[EncodedQuestion]) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.config.seed + epoch)
        order = torch.randperm(len(train), generator=generator).tolist()
        size = self.config.batch_size
        if self.config.group_by_length:
            order = grouped_by_length(order, [max(map(len, item.pairs)) for item in train], size)
        return [order[i : i + size] for i in range(0, len(order), size)]

    def _step(self, train: list[EncodedQuestion], indices: list[int]) -> float:
        acc = self.accelerator
        mine = indices[acc.process_index :: acc.num_processes] or indices[:1]  # every process must step
        self.ddp_model.train()
        logits = self._logits(self.ddp_model, [train[i] for i in mine], mine)
        loss = torch.nn.functional.cross_entropy(logits, self._labels(train, mine))
        acc.backward(loss)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return acc.reduce(loss.detach(), "mean").item()

    def _labels(self, examples, indices) -> torch.Tensor:
        return torch.tensor([examples[i].label for i in indices], device=self.accelerator.device)

    def _logits(self, model, items: list[EncodedQuestion], cache_ids: list[int]) -> torch.Tensor:
        batch = collate(items, self.pad).to(self.accelerator.device)
        prefix = None
        if self.cache is not None:
            prefix = self.cache.prefix(cache_ids, batch.input_ids.shape[1]).to(self.accelerator.device)
        return model(batch, prefix)

    @torch.no_grad()
    def evaluate(self, dev: list[EncodedQuestion]) -> float:
        """Dev accuracy (every process computes it; the cache rows of dev follow those of train)."""
        self.model.eval()
        correct, size = 0, 2 * self.config.batch_size
        for start in range(0, len(dev), size):
            ids = list(range(start, min(start + size, len(dev))))
            logits = self._logits(self.model, [dev[i] for i in ids], [self.n_train + i for i in ids])
            correct += (logits.argmax(-1).cpu() == torch.tensor([dev[i].label for i in ids])).sum().item()
        return correct / max(len(dev), 1)

    def _end_epoch(self, state: TrainState, dev, out: Path, tracker) -> None:
        if dev:
            accuracy = self.evaluate(dev)
            state.dev_accuracy.append(accuracy)
            tracker.log({"dev/accuracy": accuracy}, state.global_step)
            logger.info("epoch %d: dev accuracy %.4f", state.epoch + 1, accuracy)
            if accuracy > state.best_accuracy:
                state.best_accuracy, state.best_epoch, state.bad_epochs = accuracy, state.epoch, 0
                if self.accelerator.is_main_process:
                    state_dict = trainable_state(self.model)
                    atomic_write(out / "best.safetensors", lambda handle: handle.write(save(state_dict)))
            else:
                state.bad_epochs += 1
        state.epoch, state.step_in_epoch = state.epoch + 1, 0

    def _checkpoint(self, out: Path, state: TrainState) -> None:
        if self.accelerator.is_main_process:
            self.checkpoints.save(self.model, self.optimizer, self.scheduler, state)
        self.accelerator.wait_for_everyone()


def grouped_by_length(order: list[int], lengths: list[int], batch_size: int) -> list[int]:
    """Each run of GROUP_BATCHES batches of `order`, sorted longest first (ties keep their order): batches then pad
    little, and which questions share a run is still the epoch's shuffle. (The model then reads each batch in runs of
    similar length, kqa.adapters.model.length_runs.)"""
    group = GROUP_BATCHES * batch_size
    return [index for start in range(0, len(order), group)
            for index in sorted(order[start : start + group], key=lengths.__getitem__, reverse=True)]


def linear_schedule(optimizer, warmup: int, total: int):
    """Linear warm-up over `warmup` steps, then linear decay to 0 at step `total`."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
