"""KnowledgeModel: a frozen backbone read through named sets of trainable parts (gated adapter, head, peft).

forward(batch) -> logits (B, C): every (question, choice) sequence runs through the backbone (with knowledge
injected in the adapted layers); with `scoring: head` its final hidden states are mean-pooled over real tokens
(virtual tokens of prompt methods excluded) and an MLP gives one logit, with `scoring: likelihood` the decoder's own
LM head gives the mean log-probability of the choice's tokens. Missing choices (questions with fewer choices than the batch's
widest) get -inf. The peft part is one of kqa.adapters.peft_methods (LoRA, LoRA-FA, (IA)^3, prefix, prompt, p-tuning).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from kqa.adapters.backbone import load_backbone
from kqa.adapters.config import AdapterConfig
from kqa.adapters.encoding import Batch, QuestionEncoder
from kqa.adapters.gated import (
    GatedKnowledgeAdapter,
    KnowledgeInjector,
    KnowledgeState,
    ffn_output,
    find_layers,
    masked_mean,
)
from kqa.adapters.longlora import RATIO_ATTR
from kqa.adapters.peft_methods import apply_peft, is_peft_key, is_trainable_peft_key, peft_config, virtual_tokens
from kqa.errors import ConfigError, InputError
from kqa.models import resolve_model

logger = logging.getLogger(__name__)
# A batch's sequences are read this many at a time, longest first, each run padded only to its own longest: a batch
# of 8 CSQA questions (40 sequences) padded to its longest reads 1.6x the tokens of 4 such runs. Dropout draws differ
# from one pass over the whole batch; without dropout the scores are the same up to float rounding.
RUN_ROWS = 10


class _Captured(Exception):
    """Raised by the capture hook to stop a forward pass once the wanted activations are in hand."""


class KnowledgeModel(nn.Module):
    """Frozen backbone + named trainable sets; one set is active at a time (`set_active`)."""

    def __init__(self, backbone: nn.Module, config: AdapterConfig, name: str = "default",
                 lm_head: nn.Module | None = None):
        super().__init__()
        self.config = config
        _, layers = find_layers(backbone)
        self.family = ffn_output(layers[0])[0]
        if (config.scoring == "likelihood") != (lm_head is not None) or (lm_head is not None and
                                                                         self.family != "decoder"):
            raise ConfigError(f"`adapter.scoring: likelihood` reads a decoder's LM head; {config.backbone!r} is "
                              f"an {self.family}: use `adapter.scoring: head`")
        self.lm_head = lm_head.requires_grad_(False) if lm_head is not None else None  # frozen, tied or not
        self.softcap = getattr(backbone.config, "final_logit_softcapping", None)  # Gemma 2 caps its logits
        try:
            self.layer_ids = config.layer_indices(len(layers))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        backbone.requires_grad_(False)
        uses_peft = config.peft_method is not None
        self.backbone = apply_peft(backbone.eval(), config, self.family, name) if uses_peft else backbone
        self.hidden = backbone.config.hidden_size
        self.adapters = nn.ModuleDict()  # name -> GatedKnowledgeAdapter (gated methods only)
        self.heads = nn.ModuleDict()  # name -> scoring MLP
        self._new_parts(name)  # after peft: the seeded initial weights depend on the peft settings (LoRA rank)
        self.virtual = virtual_tokens(config)  # V tokens prepended to the hidden states (prompt, p-tuning)
        self.injector = KnowledgeInjector(self.layers, self.layer_ids) if config.uses_gated else None
        self.merged = False
        self.unfrozen_from: str | None = None  # the set whose own backbone weights (method full, long_context) it holds
        self.init_seed: int | None = None  # set by build_model, which seeds the first set's initialisation
        self.active = name
        self.set_active(name)

    @property
    def layers(self) -> nn.ModuleList:
        return find_layers(self.backbone)[1]

    # ---- named trainable sets ----------------------------------------------------------------------------------
    def add_adapter(self, name: str, peft_settings: AdapterConfig | None = None) -> None:
        """Create a fresh trainable set called `name` (gated adapter + head + peft, per the method) and activate it.

        `peft_settings`: take the peft hyper-parameters (e.g. a combined adapter's LoRA rank) from this config.
        """
        if name in self.heads:
            raise InputError(f"adapter name {name!r} is already loaded; loaded: {sorted(self.heads)}.")
        self._new_parts(name)
        if self.config.peft_method is not None and name not in self.backbone.peft_config:
            pattern = find_layers(self.backbone)[0].rpartition(".")[2]
            self.backbone.add_adapter(name, peft_config(peft_settings or self.config, self.family, pattern))
        self.set_active(name)

    def _new_parts(self, name: str) -> None:
        """Fresh gated adapter (gated methods) and scoring head for the set `name`."""
        c = self.config
        if c.uses_gated:
            self.adapters[name] = GatedKnowledgeAdapter(self.hidden, c.width, c.heads, c.max_fact_tokens, c.dropout,
                                                        c.body_init_scale)
        # with `scoring: likelihood` the LM head scores: the set has no MLP of its own
        self.heads[name] = (nn.Identity() if c.scoring == "likelihood" else
                            nn.Sequential(nn.Linear(self.hidden, c.head_width), nn.ReLU(), nn.Linear(c.head_width, 1)))

    def set_active(self, name: str) -> None:
        """Switch every trainable part to the set `name`; only its parameters require gradients."""
        if name not in self.heads:
            raise InputError(f"unknown adapter name {name!r}; loaded: {sorted(self.heads)}.")
        self.active = name
        if self.config.peft_method is not None and not self.merged:
            self.backbone.set_adapter(name)
        for key, param in self.named_parameters():
            param.requires_grad_(self._is_trainable(key, name))

    def _is_trainable(self, key: str, name: str) -> bool:
        if key.startswith(("adapters.", "heads.")):
            return key.split(".")[1] == name
        if self.config.method == "full":  # saved as the set's "unfrozen." weights (kqa.adapters.saving)
            return key.startswith("backbone.")
        return not self.merged and is_trainable_peft_key(key, name, self.config)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def backbone_parameters(self) -> int:
        return sum(p.numel() for k, p in self.backbone.named_parameters() if not is_peft_key(k))

    # ---- forward -----------------------------------------------------------------------------------------------
    def forward(self, batch: Batch, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, C). `prefix` (N, T, d): cached input of the first adapted layer; the layers below are skipped.
        The batch's sequences are read in runs of similar length (`length_runs`), each padded only to its longest."""
        scores, slots = [], []
        for rows in length_runs(batch, self._run_rows):
            part = batch.rows(rows)
            cached = None if prefix is None else prefix[rows, : self.virtual + part.input_ids.shape[1]]
            scores.append(self._scores(part, cached))  # (R,)
            slots.append(part.slots)
        run_scores, run_slots = torch.cat(scores), torch.cat(slots)  # (N,) each, in run order
        flat = torch.full((len(batch.labels) * batch.n_choices,), float("-inf"), dtype=run_scores.dtype,
                          device=run_scores.device)
        return flat.scatter(0, run_slots, run_scores).view(len(batch.labels), batch.n_choices)  # (B, C)

    @property
    def _run_rows(self) -> int | None:
        """Sequences per forward pass; None (the whole batch at once) under S2-Attn, whose groups are a share of the
        padded length."""
        return None if getattr(self.backbone.config, RATIO_ATTR, None) else RUN_ROWS

    def _scores(self, batch: Batch, prefix: torch.Tensor | None) -> torch.Tensor:
        """One score per sequence of `batch` (N,)."""
        state = self._knowledge(batch) if self.injector is not None else None
        feeding = self.injector.feeding(state) if self.injector is not None else nullcontext()
        with feeding, self._from_prefix(prefix):
            out = self.backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        hidden = out.last_hidden_state[:, self.virtual :]  # (N, T, d): virtual prompt tokens dropped
        if self.lm_head is not None:
            scores = self._likelihood(hidden, batch)  # (N,)
        else:
            pooled = masked_mean(hidden.float(), batch.attention_mask.bool())  # (N, d)
            scores = self.heads[self.active](pooled).squeeze(-1)  # (N,)
        return scores

    def _likelihood(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean log-probability of each sequence's choice tokens (its last `choice_tokens` real tokens), (N,). The LM
        head runs only where a choice token is predicted: M rows, not N x T (Gemma's vocabulary is 262k)."""
        n = batch.choice_tokens  # (N,) >= 1: QuestionEncoder refuses a choice without tokens
        rows = torch.repeat_interleave(torch.arange(len(n), device=n.device), n)  # (M,) sequence of each token
        step = torch.arange(len(rows), device=n.device) - torch.repeat_interleave(n.cumsum(0) - n, n)  # (M,) 0..n-1
        at = batch.attention_mask.sum(-1)[rows] - n[rows] + step  # (M,) where each choice token sits
        weight = self.lm_head.weight
        logits = self.lm_head(hidden[rows, at - 1].to(weight.dtype)).float()  # (M, V): the token before predicts it
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        picked = torch.log_softmax(logits, dim=-1).gather(-1, batch.input_ids[rows, at][:, None])[:, 0]  # (M,)
        return torch.zeros(len(n), device=n.device).index_add(0, rows, picked) / n  # (N,)

    def _knowledge(self, batch: Batch) -> KnowledgeState:
        adapter = self.adapters[self.active]
        embeddings = self.backbone.get_input_embeddings()(batch.fact_ids).float()  # (N, K, d), frozen
        tokens = batch.attention_mask.bool()  # (N, T)
        if self.virtual:  # prompt/p-tuning layers see V + T positions; the virtual ones are always attended
            tokens = torch.cat([tokens.new_ones(len(tokens), self.virtual), tokens], dim=1)  # (N, V+T)
        return KnowledgeState(adapter, adapter.start_stream(embeddings), batch.fact_mask, tokens)

    @contextmanager
    def _from_prefix(self, prefix: torch.Tensor | None) -> Iterator[None]:
        """Run only layers[first:], feeding `prefix` into the first of them (the embeddings are then unused)."""
        if prefix is None:
            yield
            return
        path, layers = find_layers(self.backbone)
        parent_path, _, attr = path.rpartition(".")
        parent = self.backbone.get_submodule(parent_path) if parent_path else self.backbone
        first = layers[self.layer_ids[0]]

        def feed(module, args, kwargs):
            return (prefix.to(args[0].dtype), *args[1:]), kwargs

        handle = first.register_forward_pre_hook(feed, with_kwargs=True)
        setattr(parent, attr, nn.ModuleList(list(layers)[self.layer_ids[0] :]))
        try:
            yield
        finally:
            setattr(parent, attr, layers)
            handle.remove()

    @torch.no_grad()
    def capture_prefix(self, batch: Batch) -> torch.Tensor:
        """Hidden states entering the first adapted layer (N, T, d); nothing below it is trainable."""
        captured: list[torch.Tensor] = []

        def grab(module, args, kwargs):
            captured.append(args[0].detach())
            raise _Captured

        handle = self.layers[self.layer_ids[0]].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            self.backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        except _Captured:
            pass
        finally:
            handle.remove()
        return captured[0].float()

    def train(self, mode: bool = True) -> KnowledgeModel:
        """Train the adapter parts; the backbone stays in eval mode (no dropout), except LoRA's own dropout and the
        prompt encoders (p-tuning's LSTM dropout)."""
        super().train(mode)
        self.backbone.eval()
        for key, module in self.backbone.named_modules():
            if key.endswith("lora_dropout") or key == "prompt_encoder":
                module.train(mode)
        for layer in self.layers:  # recompute_layers: transformers recomputes a layer only while the layer itself is
            if getattr(layer, "gradient_checkpointing", False):  # in training mode; its dropout stays in eval mode
                layer.training = mode
        return self

    def recompute_layers(self) -> None:
        """Gradient checkpointing (`train.gradient_checkpointing`): each backbone layer keeps only its input and is
        run again in the backward pass. Non-reentrant, so it works whether or not the layer's input needs a gradient."""
        if self.injector is not None:  # its hooks feed the facts only during the forward pass, not the recomputation
            raise ConfigError(f"`train.gradient_checkpointing` cannot be used with `adapter.method` "
                              f"{self.config.method!r}: the knowledge stream is fed into the layers during the forward "
                              f"pass only. Use a method without the gated stream (lora, lora-fa, ia3, ...) or set "
                              f"`train.gradient_checkpointing: false`.")
        base = self.backbone.get_base_model() if hasattr(self.backbone, "get_base_model") else self.backbone
        if not getattr(base, "supports_gradient_checkpointing", False):
            raise ConfigError(f"`train.gradient_checkpointing` needs a backbone that supports it; "
                              f"{self.config.backbone!r} ({type(base).__name__}) does not. Set it to false.")
        kwargs = {"use_reentrant": False}
        if hasattr(base, "activation_checkpointing_enable"):  # the newer name; the older one warns that it will go
            base.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        self.train(self.training)

    # ---- combining LoRA sets; merging a LoRA or (IA)^3 set ----------------------------------------------------------
    def combine_lora(self, names: Sequence[str], weights: Sequence[float], new_name: str,
                     combination_type: str = "linear") -> None:
        """peft add_weighted_adapter over LoRA sets; the head (and gated adapter) are copied from names[0]."""
        if not self.config.uses_lora:
            raise ConfigError(f"combining adapters needs a LoRA method, got `adapter.method` {self.config.method!r}")
        self.backbone.add_weighted_adapter(list(names), list(weights), new_name, combination_type=combination_type)
        self.heads[new_name] = _copy(self.heads[names[0]])
        if self.config.uses_gated:
            self.adapters[new_name] = _copy(self.adapters[names[0]])
        self.set_active(new_name)

    def merge_into_backbone(self) -> None:
        """peft merge_and_unload: fold the active LoRA, LoRA-FA or (IA)^3 set into the backbone weights (inference
        only; same outputs)."""
        if not (self.config.uses_lora or self.config.peft_method == "ia3") or self.merged:
            raise ConfigError("merging needs an unmerged LoRA, LoRA-FA or (IA)^3 method, got "
                              f"`adapter.method` {self.config.method!r} (merged={self.merged})")
        self.backbone = self.backbone.merge_and_unload(adapter_names=[self.active])
        self.merged = True
        if self.injector is not None:  # the hooked modules may have been LoRA wrappers that merging replaced
            self.injector.remove()
            self.injector = KnowledgeInjector(self.layers, self.layer_ids)
        self.set_active(self.active)

    def make_encoder(self, tokenizer, max_length: int, documents: bool = False) -> QuestionEncoder:
        c = self.config
        return QuestionEncoder(tokenizer, self.family, max_length, c.max_fact_tokens,
                               c.facts_per_choice if c.reads_facts else 0, documents, stream=c.reads_stream,
                               text=c.reads_text)


def _copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module)


def build_model(config: AdapterConfig, seed: int = 0, name: str = "default") -> tuple[KnowledgeModel, object]:
    """Load the frozen backbone and its tokenizer, and add a freshly initialised trainable set (seeded)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.backbone))
    backbone, lm_head = load_backbone(config)
    torch.manual_seed(seed)
    model = KnowledgeModel(backbone, config, name, lm_head)
    model.init_seed = seed  # the set's initial weights are a function of (config, seed): task-vector reference
    logger.info("trainable parameters: %d (%.2f%% of the %d-parameter backbone)", model.trainable_parameters(),
                100 * model.trainable_parameters() / model.backbone_parameters(), model.backbone_parameters())
    return model, tokenizer


def check_cache_allowed(model: KnowledgeModel) -> None:
    """The activation cache is exact only if nothing below the first adapted layer is trainable."""
    first, config = model.layer_ids[0], model.config
    if config.method == "full":
        raise ConfigError("`train.activation_cache` cannot be used with `adapter.method: full`: every backbone layer "
                          "trains, so no layer's input is fixed. Set `train.activation_cache: false`.")
    if config.uses_prompt:
        raise ConfigError(f"`train.activation_cache` cannot be used with `adapter.method` {config.method!r}: its "
                          f"trainable prompts reach every layer, so no layer's input is fixed. Set "
                          f"`train.activation_cache: false`, or use lora, lora-fa or ia3.")
    if not (config.uses_lora or config.peft_method == "ia3"):
        return
    section = "lora" if config.uses_lora else "ia3"
    layers = getattr(config, section).layers_to_transform
    if layers is None or min(layers) < first:
        name = "LoRA" if config.uses_lora else "(IA)^3"
        raise ConfigError(
            f"`train.activation_cache` needs every {name} layer at or above the first adapted layer {first} "
            f"(`adapter.layers`/`adapter.top_layers`); set `adapter.{section}.layers_to_transform` accordingly, "
            f"got {layers}."
        )


def length_runs(batch: Batch, size: int | None) -> list[torch.Tensor]:
    """Row indices of `batch`, (R,) long tensors with R <= `size`: runs of `size`, longest sequences first (ties in
    row order); one run of all N rows when `size` is None."""
    if size is None:
        return [torch.arange(len(batch.input_ids), device=batch.input_ids.device)]
    lengths = batch.attention_mask.sum(-1)  # (N,)
    return list(torch.argsort(lengths, descending=True, stable=True).split(size))
