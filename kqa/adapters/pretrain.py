"""Knowledge pre-training of the gated adapter (`train.knowledge_pretraining`): before the QA fine-tuning, the adapter
reads the graph's own verbalized facts — no question, only the facts in its knowledge stream — and learns KPE's
objectives over them (kqa.adapters.kpe: masked tail spans, relation discrimination). Unlimited signal that needs no
labelled question: a seeded sample of the graph's retrievable facts, `facts_per_choice` of them per stream.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from kqa.adapters.config import KnowledgePretraining
from kqa.adapters.encoding import EncodedQuestion, QuestionEncoder, collate, pad_id
from kqa.adapters.kpe import KnowledgeObjectives, mask_tails
from kqa.adapters.model import KnowledgeModel
from kqa.graph.store import GraphStore
from kqa.retrieval.facts import edge_fact, is_retrievable
from kqa.types import Fact

logger = logging.getLogger(__name__)


def graph_facts(graph: str | Path, count: int, seed: int) -> list[Fact]:
    """A seeded sample of `count` retrievable facts of the graph (all of them when it holds fewer), verbalized."""
    with GraphStore.open(graph) as store:
        edges = sorted((e for e in store.edges() if is_retrievable(e)), key=lambda e: e.id)
    chosen = random.Random(seed).sample(edges, min(count, len(edges)))
    return [edge_fact(edge) for edge in chosen]


class KnowledgePretrainer:
    """Train the gated adapter and KPE's heads on fact streams alone, in place, before the QA fine-tuning."""

    def __init__(self, config: KnowledgePretraining, seed: int, progress: bool = True):
        self.config, self.seed, self.progress = config, seed, progress

    def run(self, model: KnowledgeModel, objectives: KnowledgeObjectives, encoder: QuestionEncoder, tokenizer,
            facts: list[Fact], mask_id: int) -> list[float]:
        """One pass over `facts`; returns the knowledge loss of each step."""
        items = self._items(encoder, tokenizer, facts)
        params = [p for p in (*model.parameters(), *objectives.parameters()) if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.config.lr)
        order = torch.randperm(len(items), generator=torch.Generator().manual_seed(self.seed)).tolist()
        size, device, losses = self.config.batch_size, next(model.parameters()).device, []
        model.train()
        for start in tqdm(range(0, len(order), size), desc="knowledge pre-training", unit="step",
                          disable=not self.progress):
            batch = collate([items[i] for i in order[start : start + size]], pad_id(tokenizer)).to(device)
            masked, labels = mask_tails(batch.fact_ids, batch.fact_spans, mask_id)
            _, stream = model(replace(batch, fact_ids=masked), with_stream=True)  # (N, K, d); no QA label
            loss = objectives(stream.float(), batch.fact_spans, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        logger.info("knowledge pre-training: %d facts, %d steps, loss %.3f -> %.3f", len(facts), len(losses),
                    losses[0] if losses else float("nan"), losses[-1] if losses else float("nan"))
        return losses

    def _items(self, encoder: QuestionEncoder, tokenizer, facts: list[Fact]) -> list[EncodedQuestion]:
        """One sequence per stream of `facts_per_choice` facts; the sequence itself is empty ([CLS] [SEP])."""
        empty = tuple(tokenizer("")["input_ids"]) or (pad_id(tokenizer),)
        per = max(encoder.facts_per_choice, 1)
        items = []
        for start in range(0, len(facts), per):
            ids, spans = encoder.stream_with_spans(facts[start : start + per])
            if spans:  # a stream whose facts were all cut teaches nothing
                items.append(EncodedQuestion((empty,), (ids,), -1, (spans,)))
        return items
