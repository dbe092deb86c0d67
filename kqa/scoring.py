"""Multiple-choice scoring with a causal LM: log-likelihood of each choice after a prompt.

Sequences are left-padded so every continuation ends at the last position; the LM head then runs only on the last
`max continuation length` positions (`logits_to_keep`), which keeps memory low for large vocabularies (Gemma: 262k).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from kqa.config import ModelConfig, ScorerConfig
from kqa.types import Evidence, Question

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoded:
    """One (question, choice) pair as token ids; the last `n_cont` ids are the choice."""

    ids: tuple[int, ...]
    n_cont: int


class CausalLMScorer:
    """Score every choice of a question by its log-likelihood under a frozen causal LM."""

    def __init__(self, model_config: ModelConfig, config: ScorerConfig, model=None, tokenizer=None):
        self.model_config = model_config
        self.config = config
        self.model = model
        self.tokenizer = tokenizer

    @property
    def name(self) -> str:
        return self.model_config.name

    def warm_up(self) -> None:
        """Load the model once (not in __init__, so building a pipeline stays cheap and testable)."""
        if self.model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from kqa.models import resolve_model

        path = resolve_model(self.model_config.name)
        dtype = getattr(torch, self.model_config.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.model_config.device)
        self.model.eval()
        logger.info("loaded %s from %s", self.model_config.name, path)

    def run(self, questions: Sequence[Question], evidence: Sequence[Evidence] | None = None) -> list[tuple[float, ...]]:
        """Scores per question, one per choice, in choice order (higher is better)."""
        self.warm_up()
        pairs = [self.encode(q.stem, c.text) for q in questions for c in q.choices]
        flat = self._score_pairs(pairs)
        scores, start = [], 0
        for q in questions:
            scores.append(tuple(flat[start : start + len(q.choices)]))
            start += len(q.choices)
        return scores

    def encode(self, stem: str, choice: str) -> Encoded:
        prompt = self.config.template.format(question=stem)
        context = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        cont = self.tokenizer(" " + choice, add_special_tokens=False)["input_ids"]
        if not context:  # a model must see at least one token before the choice
            context = [self._pad_id()]
        budget = self.config.max_length - len(cont)
        ids = (context[-budget:] if budget > 0 else context[-1:]) + cont
        return Encoded(tuple(ids), len(cont))

    def _score_pairs(self, pairs: Sequence[Encoded]) -> list[float]:
        out: list[float] = []
        size = self.config.batch_size
        for start in range(0, len(pairs), size):
            out.extend(self._score_batch(pairs[start : start + size]))
        return out

    @torch.inference_mode()
    def _score_batch(self, batch: Sequence[Encoded]) -> list[float]:
        ids, mask = self._left_pad(batch)  # (B, T)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # padding must not shift RoPE positions of real tokens
        keep = max(e.n_cont for e in batch) + 1
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, keep-1, V): predicts the last keep-1 ids
        targets = ids[:, -(keep - 1) :]  # (B, keep-1)
        token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, keep-1)
        scores = []
        for row, enc in enumerate(batch):
            total = token_lp[row, -enc.n_cont :].sum().item()
            scores.append(total / enc.n_cont if self.config.mode == "mean" else total)
        return scores

    def _left_pad(self, batch: Sequence[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(e.ids) for e in batch)
        ids = torch.full((len(batch), width), self._pad_id(), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, width - len(enc.ids) :] = torch.tensor(enc.ids)
            mask[row, width - len(enc.ids) :] = 1
        device = self.model_config.device
        return ids.to(device), mask.to(device)

    def _pad_id(self) -> int:
        tok = self.tokenizer
        for candidate in (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id):
            if candidate is not None:
                return candidate
        return 0
