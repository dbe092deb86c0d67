"""Questions + evidence -> token ids (once per example) -> padded batches (per step).

Each (question, choice) pair is one sequence. A choice's facts reach the model as a knowledge stream (joined with
" . ", cut to `max_fact_tokens`, read by the gated adapter), as text inside the sequence (KEAR's way:
`[CLS] question [SEP] choice [SEP] fact ; fact [SEP]` for an encoder, "Facts: ...\n" before a decoder's question),
or both. Questions with different numbers of choices share a batch: their missing choices are
absent from the flat (N, T) tensors and get -inf logits in the (B, C) output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from kqa.adapters.longlora import build_long_input, facts_from_evidence
from kqa.errors import InputError
from kqa.types import Evidence, Fact, Question

DECODER_PROMPT = "Question: {stem}\nAnswer:"  # then " choice"
DECODER_FACTS = "Facts: {facts}.\n"
FACT_SEPARATOR = " . "  # between facts of the knowledge stream
TEXT_FACT_SEPARATOR = " ; "  # between facts in the input text


@dataclass(frozen=True)
class EncodedQuestion:
    """Token ids of one question: one sequence and one fact stream per choice."""

    pairs: tuple[tuple[int, ...], ...]
    facts: tuple[tuple[int, ...], ...]
    label: int  # gold choice index, -1 when unknown
    choice_tokens: tuple[int, ...]  # per pair: how many of its last ids are the choice (decoders; 0 for encoders)


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (N, T), N = choices of all questions, right-padded
    attention_mask: torch.Tensor  # (N, T) 1 = real token
    fact_ids: torch.Tensor  # (N, K)
    fact_mask: torch.Tensor  # (N, K) bool, True = real fact token
    slots: torch.Tensor  # (N,) flat position of each sequence in the (B, C) logits
    labels: torch.Tensor  # (B,) gold choice index, -1 when unknown
    n_choices: int  # C, the most choices of any question in the batch
    choice_tokens: torch.Tensor  # (N,) how many of each sequence's last real tokens are the choice (0: encoders)

    def to(self, device: torch.device | str) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()})

    def rows(self, index: torch.Tensor) -> Batch:
        """The sequences `index` (R,), their padding cut to the longest of them; labels and n_choices stay the whole
        batch's (the rows' `slots` still place them in its (B, C) logits)."""
        width = int(self.attention_mask[index].sum(-1).max())
        facts = max(1, int(self.fact_mask[index].sum(-1).max()))
        return Batch(self.input_ids[index, :width], self.attention_mask[index, :width], self.fact_ids[index, :facts],
                     self.fact_mask[index, :facts], self.slots[index], self.labels, self.n_choices,
                     self.choice_tokens[index])


class QuestionEncoder:
    """Tokenize (question, choice) pairs and their facts for one backbone family."""

    def __init__(self, tokenizer, family: str, max_length: int, max_fact_tokens: int, facts_per_choice: int,
                 documents: bool = False, *, stream: bool = True, text: bool = False):
        self.tokenizer = tokenizer
        self.stream, self.text = stream, text  # where the facts go: the knowledge stream, the input text
        # long_context: every retrieved fact of the question becomes a "Document i:" line of the decoder prompt
        self.documents = documents
        self.family = family  # "encoder" (text pairs with [CLS]/[SEP]) or "decoder" (one prompt)
        self.max_length = max_length
        self.max_fact_tokens = max_fact_tokens
        self.facts_per_choice = facts_per_choice

    def encode(self, question: Question, evidence: Evidence | None = None) -> EncodedQuestion:
        per_choice = evidence.per_choice if evidence is not None else tuple(() for _ in question.choices)
        if self.documents and evidence is not None:
            prompt = build_long_input(question.stem, facts_from_evidence(evidence))  # documents, question, "Answer:"
            encoded = [self._long_pair(prompt, c.text) for c in question.choices]
        else:
            encoded = [self._pair(question.stem, c.text, self._text_facts(per_choice, i))
                       for i, c in enumerate(question.choices)]
        pairs = tuple(ids for ids, _ in encoded)
        stream = per_choice if self.stream else ()
        facts = tuple(self.fact_ids(stream[i] if i < len(stream) else ()) for i in range(len(pairs)))
        label = question.labels.index(question.answer) if question.answer in question.labels else -1
        return EncodedQuestion(pairs, facts, label, tuple(n for _, n in encoded))

    def fact_ids(self, facts: Sequence[Fact]) -> tuple[int, ...]:
        texts = [f.text for f in facts[: self.facts_per_choice] if f.text]
        if not texts:
            return ()
        ids = self.tokenizer(FACT_SEPARATOR.join(texts), add_special_tokens=False)["input_ids"]
        return tuple(ids[: self.max_fact_tokens])

    def _long_pair(self, prompt: str, choice: str) -> tuple[tuple[int, ...], int]:
        """Cut from the left: the question and the choice at the end must survive, the oldest documents go first."""
        return self._decoder_ids(self.tokenizer(prompt)["input_ids"], choice)

    def _text_facts(self, per_choice: Sequence[Sequence[Fact]], i: int) -> tuple[str, ...]:
        if not self.text or i >= len(per_choice):
            return ()
        return tuple(f.text for f in per_choice[i][: self.facts_per_choice] if f.text)

    def _pair(self, stem: str, choice: str, facts: Sequence[str] = ()) -> tuple[tuple[int, ...], int]:
        """The sequence's ids and how many of the last ones are the choice (0 for an encoder)."""
        if self.family == "encoder":
            return self._encoder_pair(stem, choice, facts), 0
        ids = self.tokenizer(DECODER_PROMPT.format(stem=stem))["input_ids"]  # (BOS) Question: ... Answer:
        if facts:  # the facts come first, cut to their budget; they give way first when the prompt is too long
            fact_ids = self._ids(DECODER_FACTS.format(facts=TEXT_FACT_SEPARATOR.join(facts)))[: self.max_fact_tokens]
            head = ids[:1] if ids and ids[0] == self.tokenizer.bos_token_id else []
            ids = head + fact_ids + ids[len(head) :]
        return self._decoder_ids(ids, choice)

    def _decoder_ids(self, context: list[int], choice: str) -> tuple[tuple[int, ...], int]:
        """Context, then " choice" tokenized on its own (as the zero-shot scorer does), so its tokens are known; a
        context too long for `max_length` loses its first tokens."""
        cont = self._ids(" " + choice)[: self.max_length - 1]
        if not cont:  # nothing to score, and nothing to tell it from the prompt alone
            raise InputError(f"a choice must give the tokenizer at least one token, got {choice!r} (0 tokens)")
        return tuple(context[-(self.max_length - len(cont)) :] + cont), len(cont)

    def _encoder_pair(self, stem: str, choice: str, facts: Sequence[str]) -> tuple[int, ...]:
        if not facts:
            out = self.tokenizer(stem, choice, truncation="only_first", max_length=self.max_length)
            return tuple(out["input_ids"])
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        q, c = self._ids(stem), self._ids(choice)[: self.max_length - 4]
        f = self._ids(TEXT_FACT_SEPARATOR.join(facts))[: self.max_fact_tokens]
        room = self.max_length - len(c) - 4  # [CLS] q [SEP] c [SEP] f [SEP]
        f = f[: max(room - min(len(q), room // 2), 0)]  # the question keeps at least half of what is left
        q = q[: max(room - len(f), 0)]
        return tuple([cls, *q, sep, *c, sep, *f, sep] if f else [cls, *q, sep, *c, sep])

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]


def collate(items: Sequence[EncodedQuestion], pad_id: int) -> Batch:
    """Right-pad every sequence and fact stream of `items` into one Batch."""
    pairs = [p for item in items for p in item.pairs]
    facts = [f for item in items for f in item.facts]
    n_choices = max(len(item.pairs) for item in items)
    input_ids, attention = _pad(pairs, pad_id, 1)
    fact_ids, fact_mask = _pad(facts, pad_id, 1)  # K >= 1 so a batch without any fact still has a stream
    slots = [b * n_choices + c for b, item in enumerate(items) for c in range(len(item.pairs))]
    return Batch(input_ids, attention, fact_ids, fact_mask.bool(), torch.tensor(slots),
                 torch.tensor([item.label for item in items]), n_choices,
                 torch.tensor([n for item in items for n in item.choice_tokens], dtype=torch.long))


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
