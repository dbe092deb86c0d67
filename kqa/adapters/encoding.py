"""Questions + evidence -> token ids (once per example) -> padded batches (per step).

Each (question, choice) pair is one sequence; its knowledge stream is that choice's facts joined with " . ",
cut to `max_fact_tokens`. Questions with different numbers of choices share a batch: their missing choices are
absent from the flat (N, T) tensors and get -inf logits in the (B, C) output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from kqa.types import Evidence, Fact, Question

DECODER_TEMPLATE = "Question: {stem}\nAnswer: {choice}"
FACT_SEPARATOR = " . "


@dataclass(frozen=True)
class EncodedQuestion:
    """Token ids of one question: one sequence and one fact stream per choice."""

    pairs: tuple[tuple[int, ...], ...]
    facts: tuple[tuple[int, ...], ...]
    label: int  # gold choice index, -1 when unknown


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (N, T), N = choices of all questions, right-padded
    attention_mask: torch.Tensor  # (N, T) 1 = real token
    fact_ids: torch.Tensor  # (N, K)
    fact_mask: torch.Tensor  # (N, K) bool, True = real fact token
    slots: torch.Tensor  # (N,) flat position of each sequence in the (B, C) logits
    labels: torch.Tensor  # (B,) gold choice index, -1 when unknown
    n_choices: int  # C, the most choices of any question in the batch

    def to(self, device: torch.device | str) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()})


class QuestionEncoder:
    """Tokenize (question, choice) pairs and their facts for one backbone family."""

    def __init__(self, tokenizer, family: str, max_length: int, max_fact_tokens: int, facts_per_choice: int,
                 documents: bool = False):
        self.tokenizer = tokenizer
        # long_context: every retrieved fact of the question becomes a "Document i:" line of the decoder prompt
        self.documents = documents
        self.family = family  # "encoder" (text pairs with [CLS]/[SEP]) or "decoder" (one prompt)
        self.max_length = max_length
        self.max_fact_tokens = max_fact_tokens
        self.facts_per_choice = facts_per_choice

    def encode(self, question: Question, evidence: Evidence | None = None) -> EncodedQuestion:
        per_choice = evidence.per_choice if evidence is not None else tuple(() for _ in question.choices)
        if self.documents and evidence is not None:
            from kqa.adapters.longlora import build_long_input, facts_from_evidence

            prompt = build_long_input(question.stem, facts_from_evidence(evidence))  # documents, question, "Answer:"
            pairs = tuple(self._long_pair(prompt, c.text) for c in question.choices)
        else:
            pairs = tuple(self._pair(question.stem, c.text) for c in question.choices)
        facts = tuple(self.fact_ids(per_choice[i] if i < len(per_choice) else ()) for i in range(len(pairs)))
        label = question.labels.index(question.answer) if question.answer in question.labels else -1
        return EncodedQuestion(pairs, facts, label)

    def fact_ids(self, facts: Sequence[Fact]) -> tuple[int, ...]:
        texts = [f.text for f in facts[: self.facts_per_choice] if f.text]
        if not texts:
            return ()
        ids = self.tokenizer(FACT_SEPARATOR.join(texts), add_special_tokens=False)["input_ids"]
        return tuple(ids[: self.max_fact_tokens])

    def _long_pair(self, prompt: str, choice: str) -> tuple[int, ...]:
        """Cut from the left: the question and the choice at the end must survive, the oldest documents go first."""
        ids = self.tokenizer(f"{prompt} {choice}")["input_ids"]
        return tuple(ids[-self.max_length :])

    def _pair(self, stem: str, choice: str) -> tuple[int, ...]:
        if self.family == "encoder":
            out = self.tokenizer(stem, choice, truncation="only_first", max_length=self.max_length)
        else:
            out = self.tokenizer(DECODER_TEMPLATE.format(stem=stem, choice=choice), truncation=True,
                                 max_length=self.max_length)
        return tuple(out["input_ids"])


def collate(items: Sequence[EncodedQuestion], pad_id: int) -> Batch:
    """Right-pad every sequence and fact stream of `items` into one Batch."""
    pairs = [p for item in items for p in item.pairs]
    facts = [f for item in items for f in item.facts]
    n_choices = max(len(item.pairs) for item in items)
    input_ids, attention = _pad(pairs, pad_id, 1)
    fact_ids, fact_mask = _pad(facts, pad_id, 1)  # K >= 1 so a batch without any fact still has a stream
    slots = [b * n_choices + c for b, item in enumerate(items) for c in range(len(item.pairs))]
    return Batch(input_ids, attention, fact_ids, fact_mask.bool(), torch.tensor(slots),
                 torch.tensor([item.label for item in items]), n_choices)


def _pad(rows: Sequence[Sequence[int]], pad_id: int, minimum: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max([minimum, *map(len, rows)])
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, seq in enumerate(rows):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def pad_id(tokenizer) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id):
        if candidate is not None:
            return candidate
    return 0
