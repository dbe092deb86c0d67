"""KPE's knowledge objectives for the gated adapter (Zhao et al., ACL 2023; github.com/ZhaozwTD/KPE), trained beside
the QA loss so that the knowledge stream keeps what its facts say (`train.knowledge_losses`):

- span masking: each fact's tail tokens are replaced by [MASK] in the stream the adapter reads, and the final stream
  predicts them through an untied Linear(H, V) (the backbone's embeddings stay frozen);
- relation discrimination: mean(head span) ⊕ mean(tail span) of the final stream -> Linear(2H, H) is scored against
  every relation name's frozen embedding (mean of its word embeddings), InfoNCE at temperature 0.1.

loss = qa + span * L_span + relation * L_relation (KPE weighs the three 1:1:1). Only the adapter and these two heads
train; the heads are dropped after training (they are not part of the saved adapter).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kqa.adapters.config import KnowledgeLosses
from kqa.retrieval.verbalize import TEMPLATES, relation_phrase
from kqa.types import Fact

RELATIONS = tuple(TEMPLATES)  # the relation ids: the verbalizer's relations; facts of any other carry no relation loss
IGNORE = -100  # cross_entropy's ignore_index: stream positions that are not masked tails


def stream_spans(offsets: Sequence[tuple[int, int]], facts: Sequence[Fact], texts: Sequence[str],
                 separator: str) -> tuple[tuple[int, int, int, int, int], ...]:
    """(head start, head end, tail start, tail end, relation id) in stream token positions, for the facts whose
    head and tail both survive the stream's cut. `texts` were joined by `separator` and tokenized with `offsets`."""
    spans, start = [], 0
    for fact, text in zip(facts, texts):
        head_at, tail_at = text.find(fact.head), text.rfind(fact.tail)
        head = _tokens(offsets, start + head_at, start + head_at + len(fact.head)) if head_at >= 0 else None
        tail = _tokens(offsets, start + tail_at, start + tail_at + len(fact.tail)) if tail_at >= 0 else None
        if head and tail and head[1] <= tail[0]:  # both whole and apart (a tail inside the head teaches nothing)
            relation = RELATIONS.index(fact.relation) if fact.relation in RELATIONS else -1
            spans.append((*head, *tail, relation))
        start += len(text) + len(separator)
    return tuple(spans)


def _tokens(offsets: Sequence[tuple[int, int]], begin: int, end: int) -> tuple[int, int] | None:
    """The token range [first, last + 1) covering characters [begin, end); None when it was cut off."""
    inside = [i for i, (a, b) in enumerate(offsets) if a < end and b > begin and b > a]
    if not inside or offsets[inside[-1]][1] < end:  # the span runs past the stream's last token
        return None
    return inside[0], inside[-1] + 1


def mask_tails(fact_ids: torch.Tensor, spans: torch.Tensor, mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """fact_ids (N, K), spans (S, 6) [row, h0, h1, t0, t1, relation] -> (ids with every tail masked, labels (N, K)
    holding the original tail ids and IGNORE elsewhere)."""
    tails = _range_mask(spans[:, 3], spans[:, 4], fact_ids.shape[1])  # (S, K)
    masked = torch.zeros_like(fact_ids, dtype=torch.bool).index_put_((spans[:, 0],), tails, accumulate=True)
    labels = torch.where(masked, fact_ids, torch.full_like(fact_ids, IGNORE))
    return fact_ids.masked_fill(masked, mask_id), labels


def _range_mask(starts: torch.Tensor, ends: torch.Tensor, width: int) -> torch.Tensor:
    positions = torch.arange(width, device=starts.device)  # (K,)
    return (positions >= starts[:, None]) & (positions < ends[:, None])  # (S, K)


def relation_embeddings(embeddings: nn.Embedding, tokenizer) -> torch.Tensor:
    """(R, H): each relation name ("at location") as the mean of its frozen word embeddings."""
    rows = []
    for relation in RELATIONS:
        ids = torch.tensor(tokenizer(relation_phrase(relation), add_special_tokens=False)["input_ids"])
        rows.append(embeddings.weight[ids.to(embeddings.weight.device)].mean(0))
    return torch.stack(rows).detach().float()


class KnowledgeObjectives(nn.Module):
    """The two training-only heads on the adapter's final knowledge stream."""

    def __init__(self, hidden: int, vocab: int, relations: torch.Tensor, config: KnowledgeLosses):
        super().__init__()
        self.config = config
        self.tokens = nn.Linear(hidden, vocab)  # untied from the frozen input embeddings
        self.pair = nn.Linear(2 * hidden, hidden)
        self.register_buffer("relations", F.normalize(relations, dim=-1))  # (R, H)

    def forward(self, stream: torch.Tensor, spans: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """stream (N, K, H) final knowledge stream, spans (S, 6), labels (N, K) -> the weighted knowledge loss."""
        c = self.config
        return c.span * self._span(stream, labels) + c.relation * self._relation(stream, spans)

    def _span(self, stream: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        chosen = labels != IGNORE  # (N, K)
        if not chosen.any():
            return stream.sum() * 0.0  # keeps the graph connected (DDP) when a batch has no fact
        return F.cross_entropy(self.tokens(stream[chosen]), labels[chosen])

    def _relation(self, stream: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        spans = spans[spans[:, 5] >= 0]
        if not len(spans):
            return stream.sum() * 0.0
        rows = stream[spans[:, 0]]  # (S, K, H)
        head = _span_mean(rows, _range_mask(spans[:, 1], spans[:, 2], rows.shape[1]))  # (S, H)
        tail = _span_mean(rows, _range_mask(spans[:, 3], spans[:, 4], rows.shape[1]))
        pair = F.normalize(self.pair(torch.cat([head, tail], dim=-1)), dim=-1)  # (S, H)
        logits = pair @ self.relations.T / self.config.temperature  # (S, R)
        return F.cross_entropy(logits, spans[:, 5])


def _span_mean(rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(rows.dtype).unsqueeze(-1)  # (S, K, 1)
    return (rows * weights).sum(1) / weights.sum(1).clamp(min=1.0)
