"""AdapterReader: the pipeline's Reader backed by trained adapters, with leave-one-out fact attribution."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from kqa.adapters.config import AdapterConfig
from kqa.adapters.encoding import collate, pad_id
from kqa.adapters.saving import add_saved_adapter, load_model, long_context_settings, read_meta
from kqa.attribution import ReadFacts, explain, format_explanation  # noqa: F401  (format_explanation: former home)
from kqa.errors import InputError, StoreError
from kqa.types import Evidence, Prediction, Question

logger = logging.getLogger(__name__)
DEFAULT_MAX_LENGTH = 128


class AdapterReader:
    """Score choices with a KnowledgeModel; several saved adapters can be loaded and switched by name."""

    def __init__(self, adapters: Mapping[str, str | Path] | str | Path | None = None, *, device: str = "cpu",
                 max_length: int | None = None, batch_size: int = 8, model=None, tokenizer=None):
        if isinstance(adapters, (str, Path)):
            adapters = {"default": adapters}
        self.paths = dict(adapters or {})
        if not self.paths and model is None:
            raise InputError("AdapterReader needs at least one saved adapter folder (`adapters`), got none.")
        self.device, self.batch_size = device, batch_size
        self.max_length = max_length  # None: the adapter's training max_length (128 when unknown)
        self.model, self.tokenizer = model, tokenizer
        self.documents = False  # multi-document prompts, as a long_context adapter was trained on

    @property
    def name(self) -> str:
        if self.model is None:
            return "adapter:" + ",".join(self.paths)
        return f"{self.model.config.backbone}+{self.model.config.method}:{self.model.active}"

    def warm_up(self) -> None:
        """Load the backbone once and every named adapter onto it; the first name is active."""
        if self.model is not None:
            return
        names = list(self.paths)
        self.model, self.tokenizer = load_model(self.paths[names[0]], name=names[0])
        meta = read_meta(self.paths[names[0]])
        own_length = self.max_length is None
        if own_length:
            self.max_length = _max_length(meta)
        self.documents = bool(long_context_settings(meta).get("enabled"))
        for name in names[1:]:
            _check_same_input(meta, read_meta(self.paths[name]), self.paths[name], own_length)
            add_saved_adapter(self.model, self.paths[name], name)
        self.model.set_active(names[0])
        self.model.to(self.device).eval()

    @property
    def uses_facts(self) -> bool:
        """Whether the adapter reads facts (`knowledge`); read from its config without loading the model."""
        if self.model is not None:
            return self.model.config.reads_facts
        return AdapterConfig.model_validate(read_meta(next(iter(self.paths.values())))["adapter"]).reads_facts

    def set_active(self, name: str) -> None:
        self.warm_up()
        self.model.set_active(name)

    def run(self, questions: Sequence[Question], evidence: Sequence[Evidence] | None = None) -> list[tuple[float, ...]]:
        """One logit per choice, per question (higher is better)."""
        self.warm_up()
        evidence = evidence if evidence is not None else [None] * len(questions)
        encoder = self.model.make_encoder(self.tokenizer, self.max_length or DEFAULT_MAX_LENGTH, self.documents)
        items = [encoder.encode(q, e) for q, e in zip(questions, evidence)]
        out: list[tuple[float, ...]] = []
        for start in range(0, len(items), self.batch_size):
            logits = self._logits(items[start : start + self.batch_size])  # (B, C)
            for row, question in zip(logits, questions[start : start + self.batch_size]):
                out.append(tuple(row[: len(question.choices)].tolist()))
        return out

    @torch.no_grad()
    def _logits(self, items) -> torch.Tensor:
        self.model.eval()
        return self.model(collate(items, pad_id(self.tokenizer)).to(self.device)).cpu()

    def explain(self, question: Question, evidence: Evidence) -> Prediction:
        """Predict, and give each fact read for the chosen answer its leave-one-out effect (kqa.attribution).

        Facts of other choices, and facts beyond `facts_per_choice`, keep attribution None (a long_context adapter's
        prompt holds every choice's facts: each of them gets one).
        """
        return explain(self, question, evidence, self.facts_read)

    def facts_read(self, evidence: Evidence, chosen: int) -> ReadFacts:
        """The chosen choice's own facts, as many as the adapter reads per choice; for a long_context adapter, the
        documents of its prompt: every choice's facts, each left out of the whole question in turn."""
        self.warm_up()
        if self.documents:  # read whatever its `knowledge` (kqa.adapters.encoding)
            return ReadFacts(tuple(f for f in evidence.ranked_facts() if f.text), everywhere=True)
        if not self.uses_facts:
            return ReadFacts()
        limit = self.model.config.facts_per_choice
        return ReadFacts(tuple(f for f in evidence.per_choice[chosen][:limit] if f.text), chosen, limit)


def _max_length(meta: dict) -> int:
    return meta.get("training", {}).get("train", {}).get("max_length", DEFAULT_MAX_LENGTH)


def _reading(meta: dict) -> dict:
    """What of the adapter's long_context section inference uses: documents prompts, RoPE scaling."""
    settings = long_context_settings(meta)
    return {"enabled": bool(settings.get("enabled")), "target_length": settings.get("target_length")}


def _check_same_input(first: dict, other: dict, folder: str | Path, own_length: bool) -> None:
    """Adapters loaded together read inputs built one way, the first adapter's: another adapter must have been
    trained on the same (its long_context settings, and its max_length unless the reader was given one)."""
    keys = {"long_context": _reading}
    if own_length:
        keys["train.max_length"] = _max_length
    for key, read in keys.items():
        if read(first) != read(other):
            raise StoreError(f"{folder}: adapters loaded together must read the same inputs; its `{key}` is "
                             f"{read(other)!r}, the first adapter's {read(first)!r}. Load it in a reader of its own.")
