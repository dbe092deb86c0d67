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
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from kqa.adapters.cache import ActivationCache
from kqa.adapters.config import AdapterConfig, LongContextConfig, TrainConfig
from kqa.adapters.encoding import EncodedQuestion, pad_id
from kqa.adapters.optim import make_optimizer
from kqa.adapters.model import KnowledgeModel, build_model, check_cache_allowed
from kqa.adapters.saving import check_compatible, load_trainable_state, read_adapter, save_adapter
from kqa.adapters.tracking import Tracker
from kqa.atomic import atomic_text
from kqa.checkpoint import Checkpoints, TrainState
from kqa.errors import ConfigError, InputError
from kqa.retrieval.control import MatchedControlRetriever
from kqa.trainloop import TrainLoop, linear_schedule
from kqa.types import Question

logger = logging.getLogger(__name__)
KEEP_CHECKPOINTS = 2  # the newest checkpoints kept under out/checkpoints


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]  # indices into the question list
    dev: tuple[int, ...]
    test: tuple[int, ...]


def split_questions(n: int, config: TrainConfig) -> Split:
    """A permutation seeded by `split_seed` (else `seed`), cut into train_fraction / dev_fraction / the rest."""
    seed = config.seed if config.split_seed is None else config.split_seed
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_train = round(n * config.train_fraction)
    n_dev = round(n * (config.train_fraction + config.dev_fraction)) - n_train  # rounded once: the test part keeps
    # its share (10 questions at 0.55 / 0.35: 6 / 3 / 1, not 6 / 4 / 0)
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
    n_train: int = 0  # questions trained on: the train split (or its core-set) and the extra training sets


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
            init_from: str | Path | None = None, extra: Sequence[Question] = ()) -> TrainResult:
        """Train, early-stop on dev accuracy, save the best weights to `out_dir/adapter`; returns the curves.
        `extra` (kqa.data.load_mixture of `train.extra_data`) joins the train part of the split, never dev or test."""
        from accelerate import Accelerator

        out, cfg = Path(out_dir), self.config
        accelerator = Accelerator(cpu=not torch.cuda.is_available())  # cpu=True: gloo DDP under a launcher
        if not resume and accelerator.is_main_process:
            _clear_previous_run(out)
        split = split_questions(len(questions), cfg)
        train_ids = self._coreset(questions, split)
        _write_split(out, split, questions, accelerator.is_main_process, train_ids)
        model, tokenizer = self._model(init_from)
        model.to(accelerator.device)
        train, dev = self._examples(model, tokenizer, [*(questions[i] for i in train_ids), *extra],
                                    [questions[i] for i in split.dev])
        optimizer = make_optimizer(model, model.backbone, self.adapter, cfg)
        scheduler = linear_schedule(optimizer, cfg.warmup_steps, -(-len(train) // cfg.batch_size) * cfg.epochs)
        cache, cache_s = self._cache(model, train + dev, pad_id(tokenizer), out)
        checkpoints = Checkpoints(out, KEEP_CHECKPOINTS)
        state = checkpoints.load(model, optimizer, scheduler) if resume else TrainState()
        resumed_from = state.global_step
        ddp_model, optimizer = accelerator.prepare(model, optimizer)
        loop = TrainLoop(ddp_model, model, optimizer, scheduler, accelerator, cfg, pad_id(tokenizer), cache,
                         len(train), checkpoints)
        tracker = Tracker(cfg.report_to, out, accelerator.is_main_process)
        epoch_seconds = loop.run(state, train, dev, out, tracker, self.progress)
        tracker.close()
        adapter_dir = self._finish(model, out, state, accelerator)
        return TrainResult(
            tuple(state.losses), tuple(state.dev_accuracy), state.best_epoch, state.global_step, out, adapter_dir,
            split, tuple(epoch_seconds), cache_s, model.trainable_parameters(), model.backbone_parameters(),
            loop.examples / max(sum(epoch_seconds), 1e-9), resumed_from, len(train),
        )

    def _model(self, init_from: str | Path | None) -> tuple[KnowledgeModel, object]:
        """The backbone with its adapter (from a saved adapter's weights with --from), ready for long inputs."""
        model, tokenizer = build_model(self.adapter, seed=self.config.seed)
        if init_from is not None:
            _init_from(model, init_from)
        if self.config.gradient_checkpointing:
            model.recompute_layers()
        self._prepare_long_context(model)
        return model, tokenizer

    def _examples(self, model: KnowledgeModel, tokenizer, train: Sequence[Question],
                  dev: Sequence[Question]) -> tuple[list[EncodedQuestion], list[EncodedQuestion]]:
        """Each question with its facts, tokenized once for all epochs."""
        encoder = model.make_encoder(tokenizer, self.config.max_length, documents=self.long_context.enabled)
        return [self._encode(encoder, q) for q in train], [self._encode(encoder, q) for q in dev]

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

    def _finish(self, model: KnowledgeModel, out: Path, state: TrainState, accelerator) -> Path:
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
            atomic_text(out / "train_log.json", json.dumps({"losses": state.losses, **summary}, indent=2) + "\n")
        return adapter_dir


def _init_from(model: KnowledgeModel, folder: str | Path) -> None:
    """--from: start from a saved adapter's weights (same method and architecture)."""
    saved = read_adapter(folder)
    check_compatible(model.config, saved)
    load_trainable_state(model, saved.weights)
    logger.info("continuing from the adapter in %s", folder)


def _clear_previous_run(out: Path) -> None:
    """A fresh run into a folder an earlier run used: drop that run's checkpoints and best weights, which would
    otherwise outrank this run's (checkpoints are kept by step number) or become its adapter (a run without a dev part
    writes no best.safetensors of its own)."""
    stale = [path for path in (out / "checkpoints", out / "best.safetensors") if path.exists()]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    if stale:
        logger.warning("a fresh run into %s (no --resume): removed the earlier run's %s", out,
                       ", ".join(p.name for p in stale))


def _write_split(out: Path, split: Split, questions: Sequence[Question], main: bool,
                 trained: Sequence[int] | None = None) -> None:
    if not main:
        return
    out.mkdir(parents=True, exist_ok=True)
    ids = {part: [questions[i].id for i in getattr(split, part)] for part in ("train", "dev", "test")}
    if trained is not None and tuple(trained) != split.train:
        ids["coreset"] = [questions[i].id for i in trained]
    atomic_text(out / "split.json", json.dumps(ids) + "\n")


# ---- the `kqa train` entry point ----------------------------------------------------------------------------------
def train_pipeline(pipeline: str | Path | None, data: str, out: str | Path, *, limit: int | None = None,
                   epochs: int | None = None, resume: bool = False, init_from: str | Path | None = None,
                   graph: str | Path | None = None, control: bool = False, progress: bool = True,
                   coreset: float | None = None, extra_data: Sequence[dict] = ()) -> TrainResult:
    """`kqa train`: read the pipeline's sections, load the questions, build its retriever, train.

    `coreset` (0 < share <= 1) overrides `train.coreset`: train on a K-means core-set of the train split.
    `extra_data` ({"data": set, "weight": w} each) is added to `train.extra_data`: more questions for the train part."""
    from kqa.config import load_config
    from kqa.data import load_mixture, load_questions
    from kqa.overrides import override

    config = load_config(pipeline)
    adapter, train = config.adapter, config.train
    if epochs is not None:
        train = override(train, epochs=epochs)
    if coreset is not None:
        train = override(train, coreset=coreset)
    if extra_data:
        train = override(train, {"extra_data": "--data"}, extra_data=[*train.extra_data, *extra_data])
    questions = load_questions(data, limit=limit).questions
    extra = load_mixture(((s.data, s.weight) for s in train.extra_data), seed=train.seed)
    retriever, graph_path = _retriever(config, graph)
    if control and retriever is not None:
        retriever = MatchedControlRetriever(retriever, [*questions, *extra], seed=train.seed)
    trainer = Trainer(adapter, train, retriever, graph_checksum=graph_checksum(graph_path), progress=progress,
                      long_context=config.long_context)
    return trainer.run(questions, out, resume=resume, init_from=init_from, extra=extra)


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
