"""Multiple-choice scoring with a causal LM: log-likelihood of each choice after a prompt.

Two equivalent paths (tested to give the same scores):
- batched: every (prompt, choice) sequence left-padded into one batch; the LM head runs only on the last positions
  (`logits_to_keep`), which keeps memory low for large vocabularies (Gemma: 262k);
- shared prefix: the prompt (which, with facts, is long and the same for every choice) is read once, in one sequence
  with every choice after it, an attention mask keeping the choices from seeing each other (`Packed`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from kqa.attribution import ReadFacts, explain
from kqa.config import ModelConfig, ScorerConfig
from kqa.models import check_device, resolve_model
from kqa.types import Evidence, Fact, Prediction, Question

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoded:
    """One (prompt, choice) pair as token ids; the last `n_cont` ids are the choice."""

    ids: tuple[int, ...]
    n_cont: int


class CausalLMScorer:
    """Score every choice of a question by its (calibrated) log-likelihood under a frozen causal LM."""

    def __init__(self, model_config: ModelConfig, config: ScorerConfig, model=None, tokenizer=None):
        self.model_config = model_config
        self.config = config
        self.model = model
        self.tokenizer = tokenizer

    @property
    def name(self) -> str:
        return self.model_config.name

    @property
    def uses_facts(self) -> bool:
        return self.config.use_facts

    def warm_up(self) -> None:
        """Load the model once (not in __init__, so building a pipeline stays cheap and testable)."""
        if self.model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        check_device(self.model_config.device)
        path = resolve_model(self.model_config.name)
        dtype = getattr(torch, self.model_config.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.model_config.device)
        self.model.eval()
        logger.info("loaded %s from %s", self.model_config.name, path)

    def run(self, questions: Sequence[Question], evidence: Sequence[Evidence] | None = None) -> list[tuple[float, ...]]:
        """Scores per question, one per choice, in choice order (higher is better)."""
        self.warm_up()
        prefixes = [self.facts_prefix(e) for e in evidence] if evidence and self.config.use_facts else [""] * len(questions)
        prompts = [p + self.config.template.format(question=q.stem) for p, q in zip(prefixes, questions)]
        # the KV-cache path pays off for long shared prompts (facts); short ones batch better across questions
        shared = self.config.shared_prefix and any(prefixes)
        scores = self._loglik(prompts, questions, shared)
        if self.config.mode == "pmi":
            neutral = self._loglik([p + self.config.neutral_template for p in prefixes], questions, shared)
            scores = [tuple(a - b for a, b in zip(s, n)) for s, n in zip(scores, neutral)]
        return scores

    def explain(self, question: Question, evidence: Evidence) -> Prediction:
        """Predict, and give each prompt fact its leave-one-out effect on the chosen answer (kqa.attribution)."""
        return explain(self, question, evidence, self.facts_read)

    def facts_read(self, evidence: Evidence, chosen: int) -> ReadFacts:
        """The prompt's facts: one block shared by every choice, so leaving one out removes it from all of them and
        its effect shows on each copy of it."""
        return ReadFacts(self.prompt_facts(evidence) if self.uses_facts else ())

    def prompt_facts(self, evidence: Evidence) -> tuple[Fact, ...]:
        """The best `max_facts` distinct facts (by text) over all choices, best first."""
        facts = sorted({f.text: f for per in evidence.per_choice for f in per}.values(), key=lambda f: -f.score)
        return tuple(facts[: self.config.max_facts])

    def facts_prefix(self, evidence: Evidence) -> str:
        """The prompt facts as one block shared by every choice ("" when there are none)."""
        texts = [f.text for f in self.prompt_facts(evidence)]
        return self.config.facts_template.format(facts=". ".join(texts) + ".") if texts else ""

    def _loglik(self, prompts: Sequence[str], questions: Sequence[Question], shared: bool) -> list[tuple[float, ...]]:
        """log p(choice | prompt) per choice, normalized as the mode says (`_normalize`)."""
        if shared:
            return [self._score_shared(p, q) for p, q in zip(prompts, questions)]
        choices = [c.text for q in questions for c in q.choices]
        pairs = [self.encode(p, c.text) for p, q in zip(prompts, questions) for c in q.choices]
        flat = [self._normalize(s, e.n_cont, text) for s, e, text in zip(self._score_pairs(pairs), pairs, choices)]
        out, start = [], 0
        for q in questions:
            out.append(tuple(flat[start : start + len(q.choices)]))
            start += len(q.choices)
        return out

    def _normalize(self, total: float, n_tokens: int, choice: str) -> float:
        """mean: per token; char: per character of the choice (lighteval's acc_norm, which the SmolLM2 model card
        reports); sum and pmi: the total."""
        if self.config.mode == "mean":
            return total / n_tokens
        if self.config.mode == "char":
            return total / max(len(choice), 1)
        return total

    def encode(self, prompt: str, choice: str) -> Encoded:
        context, cont = self._context_ids(prompt), self._choice_ids(choice)
        budget = self.config.max_length - len(cont)
        ids = (context[-budget:] if budget > 0 else context[-1:]) + cont
        return Encoded(tuple(ids), len(cont))

    def _context_ids(self, prompt: str) -> list[int]:
        ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        return ids or [self._pad_id()]  # a model must see at least one token before the choice

    def _choice_ids(self, choice: str) -> list[int]:
        return self.tokenizer(" " + choice, add_special_tokens=False)["input_ids"]

    # ---- batched path ------------------------------------------------------------------------------------------
    def _score_pairs(self, pairs: Sequence[Encoded]) -> list[float]:
        out: list[float] = []
        size = self.config.batch_size
        for start in range(0, len(pairs), size):
            out.extend(self._score_batch(pairs[start : start + size]))
        return out

    @torch.inference_mode()
    def _score_batch(self, batch: Sequence[Encoded]) -> list[float]:
        """Summed log-likelihood of each pair's continuation."""
        ids, mask = self._left_pad(batch)  # (B, T)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # padding must not shift RoPE positions of real tokens
        keep = max(e.n_cont for e in batch) + 1
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, keep-1, V): predicts the last keep-1 ids
        targets = ids[:, -(keep - 1) :]  # (B, keep-1)
        token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, keep-1)
        return [token_lp[row, -enc.n_cont :].sum().item() for row, enc in enumerate(batch)]

    def _left_pad(self, batch: Sequence[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(e.ids) for e in batch)
        ids = torch.full((len(batch), width), self._pad_id(), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, width - len(enc.ids) :] = torch.tensor(enc.ids)
            mask[row, width - len(enc.ids) :] = 1
        device = self.model_config.device
        return ids.to(device), mask.to(device)

    # ---- shared-prefix path ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _score_shared(self, prompt: str, question: Question) -> tuple[float, ...]:
        conts = [self._choice_ids(c.text) for c in question.choices]
        context = self._context_ids(prompt)[-max(1, self.config.max_length - max(map(len, conts))) :]
        packed = Packed.of(context, conts)
        device = self.model_config.device
        keep = torch.arange(len(context) - 1, len(packed.ids), device=device)  # the prompt's last position, then
        mask = packed.mask.to(device=device, dtype=self.model.dtype)           # every fed choice token's
        mask = (1.0 - mask) * torch.finfo(mask.dtype).min  # (T, T) additive: 0 where a token may look
        logits = self.model(input_ids=packed.ids[None].to(device), attention_mask=mask[None, None],
                            position_ids=packed.positions[None].to(device), logits_to_keep=keep).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # (T - L + 1, V): row 0 predicts every first token
        scores = []
        for cont, start, choice in zip(conts, packed.starts, question.choices):
            total = logprobs[0, cont[0]].item()
            if len(cont) > 1:  # fed token j of a choice (row start - L + 1 + j) predicts its token j + 1
                rows = torch.arange(len(cont) - 1) + start - len(context) + 1
                total += logprobs[rows, torch.tensor(cont[1:])].sum().item()
            scores.append(self._normalize(total, len(cont), choice.text))
        return tuple(scores)

    def _pad_id(self) -> int:
        tok = self.tokenizer
        for candidate in (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id):
            if candidate is not None:
                return candidate
        return 0


@dataclass(frozen=True)
class Packed:
    """One question as one sequence: the prompt once, then each choice's tokens but its last (which predicts nothing
    scored), every choice seeing the prompt and its own earlier tokens only, at the positions it would have after
    the prompt alone. One forward pass then gives exactly the batched path's scores."""

    ids: torch.Tensor  # (T,) T = L + sum(n - 1)
    positions: torch.Tensor  # (T,)
    mask: torch.Tensor  # (T, T) bool: row i may look at column j
    starts: tuple[int, ...]  # where each choice's fed tokens begin

    @classmethod
    def of(cls, context: Sequence[int], conts: Sequence[Sequence[int]]) -> Packed:
        length = len(context)
        ids, positions, starts = list(context), list(range(length)), []
        for cont in conts:
            starts.append(len(ids))
            ids += cont[:-1]
            positions += range(length, length + len(cont) - 1)
        mask = torch.zeros((len(ids), len(ids)), dtype=torch.bool)
        mask[:length, :length] = torch.ones(length, length, dtype=torch.bool).tril()
        for start, cont in zip(starts, conts):
            end = start + len(cont) - 1
            mask[start:end, :length] = True
            mask[start:end, start:end] = torch.ones(end - start, end - start, dtype=torch.bool).tril()
        return cls(torch.tensor(ids, dtype=torch.long), torch.tensor(positions, dtype=torch.long), mask, tuple(starts))
