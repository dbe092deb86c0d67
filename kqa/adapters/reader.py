"""AdapterReader: the pipeline's Reader backed by trained adapters, with leave-one-out fact attribution."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from kqa.adapters.encoding import collate, pad_id
from kqa.types import Choice, Evidence, Fact, Prediction, Question

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
        from kqa.adapters.saving import add_saved_adapter, load_model, long_context_settings, read_meta

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
        """Predict, then give each fact read for the chosen answer its leave-one-out effect on that answer's score.

        `Fact.attribution` = score with all facts - score without that fact (positive: the fact supported the
        answer). Facts of other choices, and facts beyond `facts_per_choice`, keep attribution None.
        """
        scores = self.run([question], [evidence])[0]
        chosen = max(range(len(scores)), key=lambda i: (scores[i], -i))
        read = [f for f in evidence.per_choice[chosen][: self.model.config.facts_per_choice] if f.text]
        if self.model.config.reads_facts and read:
            effects = self._leave_one_out(question, question.choices[chosen], read, scores[chosen])
            attributed = tuple(replace(f, attribution=e) for f, e in zip(read, effects))
            per_choice = list(evidence.per_choice)
            per_choice[chosen] = attributed + tuple(evidence.per_choice[chosen][len(read) :])
            evidence = replace(evidence, per_choice=tuple(per_choice))
        from kqa.pipeline import make_prediction

        return make_prediction(question, scores, evidence)

    def _leave_one_out(self, question: Question, choice: Choice, facts: list[Fact], full: float) -> list[float]:
        """The chosen choice's score with each fact removed, in one batch of single-choice questions."""
        single = replace(question, choices=(choice,), answer=None)
        variants = [Evidence(question.id, (tuple(facts[:j] + facts[j + 1 :]),)) for j in range(len(facts))]
        without = self.run([single] * len(facts), variants)
        return [full - w[0] for w in without]


def format_explanation(prediction: Prediction) -> str:
    """Text for `kqa ask --explain`: the chosen answer and its facts, most influential first."""
    chosen = next(c for c in prediction.choices if c.label == prediction.label)
    facts = sorted((f for f in chosen.evidence if f.attribution is not None), key=lambda f: -abs(f.attribution))
    lines = [f"{chosen.label}. {chosen.text}  (p={chosen.probability:.3f})"]
    if not facts:
        lines.append("   no facts were read for this answer")
    for fact in facts:
        lines.append(f"   {fact.attribution:+.4f}  {fact.text}")
    return "\n".join(lines)
