"""Multiple-choice scoring with a causal LM: log-likelihood of each choice after a prompt.

Two equivalent paths (tested to give the same scores):
- batched: every (prompt, choice) sequence left-padded into one batch; the LM head runs only on the last positions
  (`logits_to_keep`), which keeps memory low for large vocabularies (Gemma: 262k);
- shared prefix: the prompt (which, with facts, is long and the same for every choice) is read once, in one sequence
  with every choice after it, an attention mask keeping the choices from seeing each other (`Packed`: a token trie,
  so the leave-one-out copies of an explanation share the prompt up to the fact each leaves out, and are read in the
  answer's own pass).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

from kqa.attribution import ReadFacts, explain, explain_scored, left_out_copies
from kqa.config import ModelConfig, ScorerConfig
from kqa.errors import InputError
from kqa.models import check_device, resolve_model
from kqa.types import Evidence, Fact, Prediction, Question

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoded:
    """One (prompt, choice) pair as token ids; the last `n_cont` ids are the choice."""

    ids: tuple[int, ...]
    n_cont: int

    def split(self) -> tuple[list[int], list[int]]:
        """(context, choice) ids."""
        return list(self.ids[: -self.n_cont]), list(self.ids[-self.n_cont :])


@dataclass(frozen=True)
class Reading:
    """The sequences one question's scores read: each choice after the prompt and, in PMI mode, after the neutral
    prompt (which keeps the facts block, so the two share it in a packed trie)."""

    question: Question
    prompt: tuple[Encoded, ...]  # one per choice
    neutral: tuple[Encoded, ...] = ()  # one per choice in PMI mode

    @property
    def sequences(self) -> tuple[Encoded, ...]:
        return (*self.prompt, *self.neutral)


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
        prefixes = [self.facts_prefix(e) for e in evidence] if evidence and self.uses_facts else [""] * len(questions)
        readings = [self._reading(q, p, self._conts(q)) for q, p in zip(questions, prefixes)]
        # packing reads each prompt once, facts or not: 5.4x the batched path on 120 bare CSQA questions in one
        # call, 2.1x on one question a call, 3.9x with 10 facts (benchmarks/bench_shared_prefix.py)
        if self.config.shared_prefix and self.packing_obstacle is None:
            totals = self._totals(readings)
        else:  # batched: the short neutral prompts (PMI) after all the prompts, so that a batch pads them less
            pairs = [*(e for r in readings for e in r.prompt), *(e for r in readings for e in r.neutral)]
            totals = dict(zip(pairs, self._score_pairs(pairs)))
        return [self._score(r, totals) for r in readings]

    def explain(self, question: Question, evidence: Evidence) -> Prediction:
        """Predict, and give each prompt fact its leave-one-out effect on the chosen answer (kqa.attribution).

        The prompt's facts are the same whichever choice wins, so where prompts are read packed the answer and the
        leave-one-out copies of every choice are read in one packed call (one forward pass up to 2 x `max_length`
        rows): the copies share the prompt up to the fact each leaves out, and one pass over more rows costs less
        than two on a CPU, where a small pass mostly pays for reading the weights (`benchmarks/bench_explain.py`)."""
        self.warm_up()
        facts = self.facts_read(evidence, 0).facts  # the same whichever choice wins
        if self.one_pass_obstacle is not None or not facts:
            return explain(self, question, evidence, self.facts_read)
        _, kept = left_out_copies(question, 0, facts)
        conts = self._conts(question)
        answer = self._reading(question, self.facts_prefix(evidence), conts)
        copies = [e for ev in kept for e in self._single_choice_sequences(question, self.facts_prefix(ev), conts)]
        totals = self._totals([answer], copies)
        return explain_scored(lambda qs, evs: self._scores_read(totals, qs, evs), question, evidence,
                              self._score(answer, totals), self.facts_read)

    def _totals(self, readings: Sequence[Reading], more: Sequence[Encoded] = ()) -> dict[Encoded, float]:
        """Summed log-likelihood of every sequence of `readings` and of `more`, each distinct one read once, packed
        (a question's prompt and neutral prompt beside each other: they share the facts block)."""
        pairs = list(dict.fromkeys([*(e for r in readings for e in r.sequences), *more]))
        return dict(zip(pairs, self._score_shared(pairs)))

    @cached_property
    def one_pass_obstacle(self) -> str | None:
        """Why `explain` reads the answer and then its copies in a second call (None: it reads them in one pass).
        Without facts the one-pass path would have nothing to leave out (and `facts_prefix` ignores `use_facts`)."""
        if not self.uses_facts:
            return "it reads no facts"
        if not self.config.shared_prefix or self.packing_obstacle is not None:
            return "its prompts are not read packed (each copy would be a sequence of its own)"
        return None

    def _reading(self, question: Question, prefix: str, conts: Sequence[list[int]]) -> Reading:
        """The sequences `question`'s scores read after the facts block `prefix` (`conts`: its choices' ids)."""
        prompt, *neutral = self._contexts(question, prefix)  # neutral: [] or, in PMI mode, one prompt
        return Reading(question, tuple(self._after(prompt, conts)),
                       tuple(e for n in neutral for e in self._after(n, conts)))

    def _single_choice_sequences(self, question: Question, prefix: str, conts: Sequence[list[int]]) -> list[Encoded]:
        """The sequences of `_reading` for each choice of `question` alone (as kqa.attribution's copies are), the
        prompt tokenized once for all the choices."""
        return [self._after(context, [cont])[0] for context in self._contexts(question, prefix) for cont in conts]

    def _contexts(self, question: Question, prefix: str) -> list[list[int]]:
        """The ids of the prompt after the facts block `prefix` and, in PMI mode, of the neutral prompt after it."""
        texts = [self.prompt(prefix, question)]
        if self.config.mode == "pmi":
            texts.append(prefix + self.config.neutral_template)
        return [self._context_ids(text) for text in texts]

    def _score(self, reading: Reading, totals: dict[Encoded, float]) -> tuple[float, ...]:
        """A question's scores from its sequences' summed log-likelihoods (`totals`), normalized as the mode says;
        PMI subtracts each choice's log-likelihood after the neutral prompt."""
        choices = reading.question.choices
        scores = [self._normalize(totals[e], e.n_cont, c.text) for e, c in zip(reading.prompt, choices)]
        return tuple(s - totals[e] for s, e in zip(scores, reading.neutral)) if reading.neutral else tuple(scores)

    def _scores_read(self, totals: dict[Encoded, float], questions: Sequence[Question], evidence: Sequence[Evidence]
                     ) -> list[tuple[float, ...]]:
        """`run`'s scores from sequences read already (`totals`); questions with a sequence not read are run (not
        expected: the copies are built as `run` builds them, truncation included; tested)."""
        readings = [self._reading(q, self.facts_prefix(ev), self._conts(q)) for q, ev in zip(questions, evidence)]
        if not all(e in totals for r in readings for e in r.sequences):
            return self.run(questions, evidence)
        return [self._score(r, totals) for r in readings]

    def prompt(self, prefix: str, question: Question) -> str:
        """The text before every choice: the facts block (or "") and the question in `template`."""
        return prefix + self.config.template.format(question=question.stem)

    def facts_read(self, evidence: Evidence, chosen: int) -> ReadFacts:
        """The prompt's facts: one block shared by every choice, so leaving one out removes it from all of them and
        its effect shows on each copy of it."""
        return ReadFacts(self.prompt_facts(evidence) if self.uses_facts else ())

    def prompt_facts(self, evidence: Evidence) -> tuple[Fact, ...]:
        """The best `max_facts` distinct facts (by text) over all choices, best first."""
        return evidence.ranked_facts()[: self.config.max_facts]

    def facts_prefix(self, evidence: Evidence) -> str:
        """The prompt facts as one block shared by every choice ("" when there are none)."""
        texts = [f.text for f in self.prompt_facts(evidence)]
        return self.config.facts_template.format(facts=". ".join(texts) + ".") if texts else ""

    @cached_property
    def packing_obstacle(self) -> str | None:
        """Why the shared-prefix path would not score exactly as the batched one for this model (None: it would);
        the scorer then takes the batched path."""
        reason = packing_obstacle(self.model.config, self.config.max_length)
        if reason is not None and self.config.shared_prefix:
            logger.warning("scorer.shared_prefix: scoring with the batched path instead, because %s", reason)
        return reason

    def _normalize(self, total: float, n_tokens: int, choice: str) -> float:
        """mean: per token; char: per character of the choice (lighteval's acc_norm, which the SmolLM2 model card
        reports); sum and pmi: the total."""
        if self.config.mode == "mean":
            return total / n_tokens
        if self.config.mode == "char":
            return total / max(len(choice), 1)
        return total

    def encode(self, prompt: str, question: Question) -> list[Encoded]:
        """Each choice after the prompt (`_after`)."""
        return self._after(self._context_ids(prompt), self._conts(question))

    def _conts(self, question: Question) -> list[list[int]]:
        """Each choice's ids."""
        return [self._choice_ids(question, i) for i in range(len(question.choices))]

    def _after(self, context: list[int], conts: Sequence[list[int]]) -> list[Encoded]:
        """Each choice's ids after the prompt's (`context`). A prompt longer than `max_length` loses its first
        tokens, as many for every choice (room is left for the longest), so all choices are scored after the same
        context."""
        budget = max(1, self.config.max_length - max(map(len, conts)))
        return [Encoded(tuple(context[-budget:] + cont), len(cont)) for cont in conts]

    def _context_ids(self, prompt: str) -> list[int]:
        ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        return ids or [self._pad_id()]  # a model must see at least one token before the choice

    def _choice_ids(self, question: Question, index: int) -> list[int]:
        text = question.choices[index].text
        ids = self.tokenizer(" " + text, add_special_tokens=False)["input_ids"]
        if not ids:  # a likelihood over no tokens is 0 whatever the prompt: the choice could not be scored
            raise InputError(f"question {question.id!r}: `choices[{index}].text` must give the tokenizer at least "
                             f"one token, got {text!r} (0 tokens)")
        return ids

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
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep,
                            use_cache=False).logits
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
    def _score_shared(self, pairs: Sequence[Encoded]) -> list[float]:
        """Pairs that share their first tokens — one question's choices share the whole prompt, the leave-one-out
        copies of kqa.attribution share it up to the left-out fact — are read as one packed sequence (`Packed`)."""
        split = [e.split() for e in pairs]  # (context, choice)
        return [total for group in packed_groups(split, 2 * self.config.max_length)
                for total in self._score_packed(Packed.of(group), [cont for _, cont in group])]

    @torch.inference_mode()
    def _score_packed(self, packed: Packed, conts: Sequence[Sequence[int]]) -> list[float]:
        """Summed log-likelihood of each pair's choice, from one forward pass over the packed sequence."""
        device = self.model_config.device
        rows = sorted({row for reads in packed.reads for row in reads})  # only these rows' logits are read
        mask = (~packed.mask).to(device=device, dtype=self.model.dtype) * torch.finfo(self.model.dtype).min
        logits = self.model(input_ids=packed.ids[None].to(device), attention_mask=mask[None, None],  # (1, 1, T, T)
                            position_ids=packed.positions[None].to(device),
                            logits_to_keep=torch.tensor(rows, device=device), use_cache=False).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # (len(rows), V)
        at = {row: i for i, row in enumerate(rows)}
        return [logprobs[[at[r] for r in reads], torch.tensor(cont)].sum().item()
                for reads, cont in zip(packed.reads, conts)]

    def _pad_id(self) -> int:
        tok = self.tokenizer
        for candidate in (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id):
            if candidate is not None:
                return candidate
        return 0


@dataclass(frozen=True)
class Packed:
    """Several (context, choice) sequences as one token trie: a prefix two of them share (one question's prompt, the
    prompt up to the fact a leave-one-out copy leaves out) is read once. Each token sees only the tokens on its own
    path from the start, at the position it has in its own sequence, so one forward pass gives every pair's
    log-likelihood exactly as its own sequence would. A choice's last token is not fed: it predicts nothing scored."""

    ids: torch.Tensor  # (T,)
    positions: torch.Tensor  # (T,)
    mask: torch.Tensor  # (T, T) bool: row i may look at column j (its path's tokens)
    reads: tuple[tuple[int, ...], ...]  # per pair: the row whose logits predict each of its choice's tokens

    @classmethod
    def of(cls, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> Packed:
        ids: list[int] = []
        chains = []  # per pair that added rows: (parent row of its first new row, first new row, rows added)
        children: dict[tuple[int, int], int] = {}
        reads = []
        for context, cont in pairs:
            path, new = _add(children, [*context, *cont[:-1]])
            if new:  # a pair's new rows are consecutive, each the child of the one before
                chains.append((new[0][0], len(ids), len(new)))
            ids += [token for _, token in new]
            reads.append(tuple(path[t - 1] for t in range(len(context), len(context) + len(cont))))
        mask = torch.zeros((len(ids), len(ids)), dtype=torch.bool)
        depth = torch.zeros(len(ids), dtype=torch.long)
        for parent, start, n in chains:  # parents come first: a chain inherits its parent's path, then its own
            rows = slice(start, start + n)
            if parent >= 0:
                mask[rows] = mask[parent]
            mask[rows, rows] = torch.ones((n, n), dtype=torch.bool).tril()
            depth[rows] = torch.arange(n) + (depth[parent] + 1 if parent >= 0 else 0)
        return cls(torch.tensor(ids, dtype=torch.long), depth, mask, tuple(reads))


def packing_obstacle(model_config, max_length: int) -> str | None:
    """Why a packed sequence with its own 4D mask would not give the scores of separate sequences (None: it would).
    Flash attention takes no such mask, and the mask replaces a sliding window, which matters once a sequence
    (at most `max_length` tokens) is longer than the window."""
    attention = getattr(model_config, "_attn_implementation", None)
    if attention not in (None, "eager", "sdpa"):
        return f"its attention ({attention!r}) takes no custom 4D mask; load the model with eager or sdpa attention"
    text = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    window = getattr(text, "sliding_window", None)
    types = getattr(text, "layer_types", None)
    slides = "sliding_attention" in types if types else getattr(text, "use_sliding_window", True) is not False
    if window is not None and slides and window < max_length:
        return (f"its sliding window ({window} tokens) is shorter than `scorer.max_length` ({max_length}), and "
                f"a packed mask would let tokens see past it; set `scorer.max_length` to at most {window}")
    return None


def packed_groups(pairs: list[tuple[list[int], list[int]]], budget: int) -> list[list[tuple[list[int], list[int]]]]:
    """Consecutive pairs packed up to about `budget` tokens a group (their shared prefixes counted once): the linear
    layers cost what separate sequences would, minus what is shared, while the attention grows with the square of
    the group (at 1,024 tokens ~13 % of SmolLM2's forward). A pair longer than the budget is a group of its own."""
    groups: list[list[tuple[list[int], list[int]]]] = []
    children: dict[tuple[int, int], int] = {}  # the last group's trie, numbered as Packed.of numbers its rows
    for context, cont in pairs:
        fed = [*context, *cont[:-1]]
        if not groups or len(children) + len(fed) - len(_walk(children, fed)) > budget:
            groups.append([])
            children = {}
        _add(children, fed)
        groups[-1].append((context, cont))
    return groups


def _walk(children: dict[tuple[int, int], int], tokens: Sequence[int]) -> list[int]:
    """Rows of the longest start of `tokens` already in the trie (`children`: (parent row, token) -> row; the
    start's parent is -1)."""
    path, node = [], -1
    for token in tokens:
        if (node, token) not in children:
            break
        node = children[node, token]
        path.append(node)
    return path


def _add(children: dict[tuple[int, int], int], tokens: Sequence[int]) -> tuple[list[int], list[tuple[int, int]]]:
    """Put `tokens` in the trie; their rows, and the (parent row, token) of each row it had to add, in row order."""
    path = _walk(children, tokens)
    new = []
    for token in tokens[len(path) :]:
        parent = path[-1] if path else -1
        children[parent, token] = len(children)
        new.append((parent, token))
        path.append(len(children) - 1)
    return path, new
