"""Train a knowledge adapter on a frozen backbone: `Trainer(...).run(questions, out) -> TrainResult`.

- Seeded split of the questions into train / dev / test (ids written to `split.json`); dev accuracy after each
  epoch drives early stopping and picks the weights saved in `adapter/`.
- Shuffling uses a generator seeded with seed + epoch, and checkpoints hold the trainable weights, optimizer,
  scheduler and RNG state, so `resume=True` continues with exactly the loss curve of an uninterrupted run.
- With `activation_cache`, the frozen layers below the first adapted layer run once (kqa.adapters.cache).
- With `coreset`, only a K-means core-set of the train split trains (kqa.coreset, after DEFT); dev and test stay.
- Device placement and DDP through accelerate: `accelerate launch -m kqa train ...` needs no code change.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from kqa.adapters.cache import ActivationCache
from kqa.adapters.config import AdapterConfig, LongContextConfig, TrainConfig
from kqa.adapters.encoding import EncodedQuestion, collate, pad_id
from kqa.adapters.lora import make_optimizer
from kqa.adapters.model import KnowledgeModel, build_model, check_cache_allowed
from kqa.adapters.saving import check_compatible, load_trainable_state, read_adapter, save_adapter, trainable_state
from kqa.adapters.tracking import Tracker
from kqa.errors import ConfigError, InputError, StoreError
from kqa.types import Question

logger = logging.getLogger(__name__)
KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]  # indices into the question list
    dev: tuple[int, ...]
    test: tuple[int, ...]


def split_questions(n: int, config: TrainConfig) -> Split:
    """A seeded permutation cut into train_fraction / dev_fraction / the rest."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed)).tolist()
    n_train, n_dev = round(n * config.train_fraction), round(n * config.dev_fraction)
    return Split(tuple(order[:n_train]), tuple(order[n_train : n_train + n_dev]), tuple(order[n_train + n_dev :]))


@dataclass(frozen=True)
class TrainResult:
    losses: tuple[float, ...]  # one per optimizer step, from step 1 (including steps before a resume)
    dev_accuracy: tuple[float, ...]  # one per finished epoch
    best_epoch: int | None  # 0-based; None without a dev set
    steps: int
    out_dir: Path
    adapter_dir: Path
    split: Split
    epoch_seconds: tuple[float, ...]  # epochs run in this call (training steps + dev evaluation)
    cache_seconds: float  # building the activation cache (0 without it)
    trainable_params: int
    backbone_params: int
    examples_per_second: float
    resumed_from_step: int = 0
    n_train: int = 0  # questions trained on: the train split, or its core-set


@dataclass
class _Progress:
    """What a checkpoint must restore besides weights (mutable: the loop advances it)."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    losses: list[float] = field(default_factory=list)
    dev_accuracy: list[float] = field(default_factory=list)
    best_accuracy: float = -1.0
    best_epoch: int | None = None
    bad_epochs: int = 0


class Trainer:
    """Train one adapter (config `adapter`) with the `train` settings; facts come from `retriever` (or none)."""

    def __init__(self, adapter: AdapterConfig, train: TrainConfig, retriever=None, *,
                 graph_checksum: str | None = None, progress: bool = True,
                 long_context: LongContextConfig = LongContextConfig()):
        self.adapter = adapter
        self.long_context = long_context
        self.config = train
        self.retriever = retriever
        self.graph_checksum = graph_checksum
        self.progress = progress

    def run(self, questions: Sequence[Question], out_dir: str | Path, *, resume: bool = False,
            init_from: str | Path | None = None) -> TrainResult:
        """Train, early-stop on dev accuracy, save the best weights to `out_dir/adapter`; returns the curves."""
        from accelerate import Accelerator

        out, cfg = Path(out_dir), self.config
        accelerator = Accelerator(cpu=not torch.cuda.is_available())  # cpu=True: gloo DDP under a launcher
        split = split_questions(len(questions), cfg)
        train_ids = self._coreset(questions, split)
        _write_split(out, split, questions, accelerator.is_main_process, train_ids)
        model, tokenizer = build_model(self.adapter, seed=cfg.seed)
        if init_from is not None:
            _init_from(model, init_from)
        self._prepare_long_context(model)
        model.to(accelerator.device)
        encoder = model.make_encoder(tokenizer, cfg.max_length, documents=self.long_context.enabled)
        train = [self._encode(encoder, questions[i]) for i in train_ids]
        dev = [self._encode(encoder, questions[i]) for i in split.dev]
        pad = pad_id(tokenizer)
        optimizer = make_optimizer(model, model.backbone, self.adapter, cfg)
        steps_per_epoch = -(-len(train) // cfg.batch_size)
        scheduler = _schedule(optimizer, cfg.warmup_steps, steps_per_epoch * cfg.epochs)
        cache, cache_s = self._cache(model, train + dev, pad, out)
        state = _Progress()
        if resume:
            state = _load_checkpoint(out, model, optimizer, scheduler)
        resumed_from = state.global_step
        ddp_model, optimizer = accelerator.prepare(model, optimizer)
        loop = _Loop(ddp_model, model, optimizer, scheduler, accelerator, cfg, pad, cache, len(train))
        tracker = Tracker(cfg.report_to, out, accelerator.is_main_process)
        epoch_seconds = loop.run(state, train, dev, out, tracker, self.progress)
        tracker.close()
        adapter_dir = self._finish(model, out, state, accelerator)
        return TrainResult(
            tuple(state.losses), tuple(state.dev_accuracy), state.best_epoch, state.global_step, out, adapter_dir,
            split, tuple(epoch_seconds), cache_s, model.trainable_parameters(), model.backbone_parameters(),
            loop.examples / max(sum(epoch_seconds), 1e-9), resumed_from, len(train_ids),
        )

    def _coreset(self, questions: Sequence[Question], split: Split) -> tuple[int, ...]:
        """The train split, or its K-means core-set (`train.coreset`): indices into `questions`."""
        if self.config.coreset is None:
            return split.train
        from kqa.coreset import CoresetSelector

        selector = CoresetSelector(self.config.coreset, seed=self.config.seed, embedder=self.config.coreset_embedder)
        chosen = selector.run([questions[i] for i in split.train])
        return tuple(split.train[j] for j in chosen)

    def _prepare_long_context(self, model: KnowledgeModel) -> None:
        """S2-Attn, RoPE interpolation and unfrozen embeddings/norms for long multi-document inputs (LongLoRA)."""
        long = self.long_context
        if not (long.enabled or long.target_length):
            return
        if model.family != "decoder":
            raise ConfigError(f"`long_context` applies to Llama-family decoders; `adapter.backbone` "
                              f"{self.adapter.backbone!r} is an encoder.")
        if self.config.activation_cache and long.enabled:
            raise ConfigError("`train.activation_cache` cannot be used with `long_context.enabled`: the unfrozen "
                              "embeddings and norms make the lower layers trainable.")
        from kqa.adapters.longlora import prepare_long_context

        unfrozen = prepare_long_context(model.backbone, long)
        logger.info("long context: S2-Attn %s, %d backbone tensors unfrozen", long.enabled, len(unfrozen))

    def _encode(self, encoder, question: Question) -> EncodedQuestion:
        if question.answer not in question.labels:
            raise InputError(f"question {question.id!r}: training needs a gold `answer` among {question.labels}, "
                             f"got {question.answer!r}.")
        evidence = self.retriever.run(question) if self.retriever is not None else None
        return encoder.encode(question, evidence)

    def _cache(self, model: KnowledgeModel, examples, pad: int, out: Path) -> tuple[ActivationCache | None, float]:
        if not self.config.activation_cache:
            return None, 0.0
        check_cache_allowed(model)
        began = time.perf_counter()
        cache = ActivationCache.build(model, examples, pad, batch_size=self.config.batch_size,
                                      memory_mb=self.config.cache_memory_mb, folder=out / "cache")
        return cache, time.perf_counter() - began

    def _finish(self, model: KnowledgeModel, out: Path, state: _Progress, accelerator) -> Path:
        accelerator.wait_for_everyone()
        best = out / "best.safetensors"
        if best.is_file():
            load_trainable_state(model, load_file(str(best)))
        summary = {"steps": state.global_step, "epochs": state.epoch, "dev_accuracy": state.dev_accuracy,
                   "best_epoch": state.best_epoch, "final_loss": state.losses[-1] if state.losses else None,
                   "train": self.config.model_dump(mode="json"),
                   "long_context": self.long_context.model_dump(mode="json")}  # inference re-applies its RoPE scaling
        adapter_dir = out / "adapter"
        if accelerator.is_main_process:
            save_adapter(model, adapter_dir, graph_checksum=self.graph_checksum, training=summary)
            (out / "train_log.json").write_text(json.dumps({"losses": state.losses, **summary}, indent=2) + "\n")
        return adapter_dir


class _Loop:
    """The epoch/step loop: shuffling per epoch, sharding per process, checkpoints, dev evaluation."""

    def __init__(self, ddp_model, model: KnowledgeModel, optimizer, scheduler, accelerator, config: TrainConfig,
                 pad: int, cache: ActivationCache | None, n_train: int):
        self.ddp_model, self.model, self.optimizer, self.scheduler = ddp_model, model, optimizer, scheduler
        self.accelerator, self.config, self.pad, self.cache, self.n_train = accelerator, config, pad, cache, n_train
        self.examples = 0  # training examples seen in this call (for examples/s)

    def run(self, state: _Progress, train, dev, out: Path, tracker, progress: bool) -> list[float]:
        cfg, seconds = self.config, []
        total = -(-len(train) // cfg.batch_size) * cfg.epochs
        bar = tqdm(total=total, initial=state.global_step, desc="training", unit="step",
                   disable=not progress or not self.accelerator.is_main_process)
        while state.epoch < cfg.epochs and not self._stopped(state):
            began = time.perf_counter()
            for indices in self._batches(state.epoch)[state.step_in_epoch :]:
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

    def _stopped(self, state: _Progress) -> bool:
        limit = self.config.max_steps is not None and state.global_step >= self.config.max_steps
        return limit or state.bad_epochs >= self.config.patience

    def _batches(self, epoch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.config.seed + epoch)
        order = torch.randperm(self.n_train, generator=generator).tolist()
        size = self.config.batch_size
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

    def _end_epoch(self, state: _Progress, dev, out: Path, tracker) -> None:
        if dev:
            accuracy = self.evaluate(dev)
            state.dev_accuracy.append(accuracy)
            tracker.log({"dev/accuracy": accuracy}, state.global_step)
            logger.info("epoch %d: dev accuracy %.4f", state.epoch + 1, accuracy)
            if accuracy > state.best_accuracy:
                state.best_accuracy, state.best_epoch, state.bad_epochs = accuracy, state.epoch, 0
                if self.accelerator.is_main_process:
                    _atomic_save(trainable_state(self.model), out / "best.safetensors")
            else:
                state.bad_epochs += 1
        state.epoch, state.step_in_epoch = state.epoch + 1, 0

    def _checkpoint(self, out: Path, state: _Progress) -> None:
        if self.accelerator.is_main_process:
            _save_checkpoint(out, self.model, self.optimizer, self.scheduler, state)
        self.accelerator.wait_for_everyone()


def _schedule(optimizer, warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _init_from(model: KnowledgeModel, folder: str | Path) -> None:
    """--from: start from a saved adapter's weights (same method and architecture)."""
    saved = read_adapter(folder)
    check_compatible(model.config, saved)
    load_trainable_state(model, saved.weights)
    logger.info("continuing from the adapter in %s", folder)


def _write_split(out: Path, split: Split, questions: Sequence[Question], main: bool,
                 trained: Sequence[int] | None = None) -> None:
    if not main:
        return
    out.mkdir(parents=True, exist_ok=True)
    ids = {part: [questions[i].id for i in getattr(split, part)] for part in ("train", "dev", "test")}
    if trained is not None and tuple(trained) != split.train:
        ids["coreset"] = [questions[i].id for i in trained]
    (out / "split.json").write_text(json.dumps(ids) + "\n", encoding="utf-8")


# ---- checkpoints: out/checkpoints/step-N/{trainable.safetensors, optimizer.pt, progress.json} + out/checkpoints/latest
def _save_checkpoint(out: Path, model: KnowledgeModel, optimizer, scheduler, state: _Progress) -> None:
    root = out / "checkpoints"
    final = root / f"step-{state.global_step:08d}"
    tmp = root / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
    rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng},
               tmp / "optimizer.pt")
    (tmp / "progress.json").write_text(json.dumps(state.__dict__) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _atomic_text(root / "latest", final.name)
    for old in sorted(root.glob("step-*"))[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(out: Path, model: KnowledgeModel, optimizer, scheduler) -> _Progress:
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        raise StoreError(f"--resume: no checkpoint in {out / 'checkpoints'}. Point --out at the interrupted run's "
                         f"folder, or run without --resume to start.")
    folder = out / "checkpoints" / pointer.read_text(encoding="utf-8").strip()
    load_trainable_state(model, load_file(str(folder / "trainable.safetensors")))
    saved = torch.load(folder / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"]["torch"])
    if saved["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    state = _Progress(**json.loads((folder / "progress.json").read_text(encoding="utf-8")))
    logger.info("resuming from %s (step %d, epoch %d)", folder, state.global_step, state.epoch + 1)
    return state


def _atomic_save(tensors: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---- the `kqa train` entry point ----------------------------------------------------------------------------------
def train_pipeline(pipeline: str | Path | None, data: str, out: str | Path, *, limit: int | None = None,
                   epochs: int | None = None, resume: bool = False, init_from: str | Path | None = None,
                   graph: str | Path | None = None, control: bool = False, progress: bool = True,
                   coreset: float | None = None) -> TrainResult:
    """`kqa train`: read the pipeline's sections, load the questions, build its retriever, train.

    `coreset` (0 < share <= 1) overrides `train.coreset`: train on a K-means core-set of the train split."""
    from kqa.config import load_config
    from kqa.data import load_questions

    config = load_config(pipeline)
    adapter, train = config.adapter, config.train
    if epochs is not None:
        train = train.model_copy(update={"epochs": epochs})
    if coreset is not None:
        train = _override(train, coreset=coreset)
    questions = load_questions(data, limit=limit).questions
    retriever, graph_path = _retriever(config, graph)
    if control and retriever is not None:
        from kqa.retrieval.control import DerangedRetriever

        retriever = DerangedRetriever(retriever, questions, seed=train.seed)
    trainer = Trainer(adapter, train, retriever, graph_checksum=graph_checksum(graph_path), progress=progress,
                      long_context=config.long_context)
    return trainer.run(questions, out, resume=resume, init_from=init_from)


def _override(train: TrainConfig, **values) -> TrainConfig:
    """`train` with command-line values, validated like the YAML section (errors name the option)."""
    from pydantic import ValidationError

    from kqa.config import format_validation_error

    try:
        return TrainConfig.model_validate(train.model_dump() | values)
    except ValidationError as exc:
        raise ConfigError(f"--{'/--'.join(values)}: {format_validation_error(exc)}") from None


def _retriever(config, graph: str | Path | None):
    """The pipeline's fact retriever when a graph is configured (or given), else None (no knowledge)."""
    path = graph if graph is not None else config.graph.path
    if not path:
        return None, None
    from kqa.retrieval.retriever import FactRetriever

    return FactRetriever.from_graph(path, config.graph.spacy_model, config.retrieval), Path(path)


def graph_checksum(path: Path | None) -> str | None:
    """SHA-256 of the graph's manifest.json (which itself lists the snapshot and log checksums)."""
    import hashlib

    manifest = path / "manifest.json" if path is not None else None
    if manifest is None or not manifest.is_file():
        return None
    return hashlib.sha256(manifest.read_bytes()).hexdigest()
