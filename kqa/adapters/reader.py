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
        if self.max_length is None:
            self.max_length = meta.get("training", {}).get("train", {}).get("max_length", DEFAULT_MAX_LENGTH)
        self.documents = bool(long_context_settings(meta).get("enabled"))
        for name in names[1:]:
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

        Facts of other choices, and facts beyond `facts_per_choice`, keep attribution None.
        """
        return explain(self, question, evidence, self.facts_read)

    def facts_read(self, evidence: Evidence, chosen: int) -> ReadFacts:
        """The chosen choice's own facts, as many as the adapter reads per choice."""
        self.warm_up()
        limit = self.model.config.facts_per_choice
        facts = tuple(f for f in evidence.per_choice[chosen][:limit] if f.text) if self.uses_facts else ()
        return ReadFacts(facts, chosen, limit)
