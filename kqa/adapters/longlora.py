"""LongLoRA (Chen et al., ICLR 2024): shifted sparse attention (S2-Attn), position interpolation, trainable norms.

S2-Attn, for training only. The sequence is cut into groups of G tokens (G = ceil(T * group_size_ratio)). Heads
[0, H//2) attend causally inside the groups [0, G), [G, 2G), ...; heads [H//2, H) do the same on groups shifted by
s = G//2: [0, s), [s, s+G), [s+G, s+2G), ... so information flows between neighbouring groups. Cost is O(T*G), not
O(T^2). It is registered as the attention implementation "s2_attn" through transformers' public AttentionInterface;
`enable_s2_attn` switches a model to it and `use_full_attention` switches it back. Nothing else in the process changes.

Two deliberate differences from the reference (dvlab-research/LongLoRA, llama_attn_replace.py):
- No wrap-around. The reference rolls the shifted heads by -G/2, so its last group holds the last G/2 tokens followed
  by the first G/2 tokens, and those first tokens attend to the end of the sequence: future tokens in a causal LM.
  Here the shifted groups are sliced, not rolled, and the first half-group [0, s) attends only within itself: S2-Attn
  is exactly the model's causal (and padding) mask restricted to same-group pairs. The tests pin that definition.
- Any length works. The reference raises unless T % G == 0; here the last group of each kind is simply shorter (one
  extra small sdpa call), so nothing is padded and no compute is wasted.
When one group covers the sequence (G >= T), when the module is in eval mode, or when decoding with a cache, the
function falls back to full sdpa attention: "inference uses full attention" holds even if a caller forgets the switch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from kqa.adapters.config import LongContextConfig
from kqa.errors import ConfigError
from kqa.types import Choice, Evidence

logger = logging.getLogger(__name__)

S2_ATTN = "s2_attn"  # the name registered in transformers' AttentionInterface
RATIO_ATTR = "s2_group_size_ratio"  # set on the model config while S2-Attn is enabled; read by the attention function


def register_s2_attn() -> None:
    """Register "s2_attn" (idempotent). Its masks are sdpa's: None for plain causal, else a (B, 1, T, T) bool mask."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(S2_ATTN, s2_attention_forward)
    AttentionMaskInterface.register(S2_ATTN, sdpa_mask)


def group_size(seq_len: int, ratio: float) -> int:
    """G for a sequence of `seq_len` tokens: ceil(T * ratio), so T needs at most ceil(1/ratio) groups."""
    return max(1, math.ceil(seq_len * ratio))


def s2_attention_forward(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                         **kwargs) -> tuple[torch.Tensor, None]:
    """AttentionInterface function. query (B, H, T, D), key/value (B, Hkv, T, D) -> output (B, T, H, D), None."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    seq_len, kv_len = query.shape[2], key.shape[2]
    group = group_size(seq_len, getattr(module.config, RATIO_ATTR, 1.0))
    # S2-Attn while training: in train mode, or while gradients are recorded (kqa.adapters.model keeps a frozen
    # backbone in eval mode, without dropout, while its adapters train); full attention for inference
    training = module.training or torch.is_grad_enabled()
    if not training or seq_len != kv_len or group >= seq_len:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    n_rep = query.shape[1] // key.shape[1]  # GQA: every query head gets its key/value head
    key, value = key.repeat_interleave(n_rep, dim=1), value.repeat_interleave(n_rep, dim=1)
    allowed = _as_allowed(attention_mask, query.shape[0], seq_len)
    return s2_attention(query, key, value, group, allowed, scaling, dropout), None


def s2_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, group: int, allowed: torch.Tensor | None = None,
                 scaling: float | None = None, dropout: float = 0.0) -> torch.Tensor:
    """S2-Attn on q, k, v (B, H, T, D), as many kv heads as query heads; `allowed` (B, 1, T, T) bool or None.

    Returns (B, T, H, D), the layout attention functions hand back to the model.
    """
    half, s = q.shape[1] // 2, group // 2
    plain = _local(q[:, :half], k[:, :half], v[:, :half], 0, group, allowed, scaling, dropout)
    q, k, v = q[:, half:], k[:, half:], v[:, half:]
    shifted = _local(q, k, v, s, group, allowed, scaling, dropout)  # groups [s, s+G), [s+G, s+2G), ...
    if s:  # and the first half-group [0, s) on its own: no roll, so nothing wraps
        shifted = torch.cat([_local(q[:, :, :s], k[:, :, :s], v[:, :, :s], 0, s, allowed, scaling, dropout), shifted],
                            dim=1)
    return torch.cat([plain, shifted], dim=2)


def _local(q, k, v, start, group, allowed, scaling, dropout) -> torch.Tensor:
    """Causal attention inside groups [start, start+G), [start+G, start+2G), ... of tokens [start, T); the last group
    may be shorter (so no length needs padding). q, k, v (B, h, T, D) -> (B, T - start, h, D)."""
    length = q.shape[2]
    stop = start + (length - start) // group * group
    parts = [_grouped(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b], size, None if allowed is None else
                      allowed[..., a:b, a:b], scaling, dropout)
             for a, b, size in ((start, stop, group), (stop, length, length - stop)) if b > a]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _grouped(q, k, v, group, allowed, scaling, dropout) -> torch.Tensor:
    """Attention inside consecutive groups of `group` tokens. q, k, v (B, h, n*G, D) -> (B, n*G, h, D)."""
    b, h, length, d = q.shape
    n = length // group

    def split(x):  # (B, h, n*G, D) -> (B*n, h, G, D): one copy
        return x.reshape(b, h, n, group, d).transpose(1, 2).reshape(b * n, h, group, d)

    mask = None if allowed is None else _diagonal_blocks(allowed, group)  # (B*n, 1, G, G)
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask, dropout_p=dropout,
                                         is_causal=mask is None, scale=scaling)
    return out.transpose(1, 2).reshape(b, length, h, d)  # free when sdpa wrote (B*n, G, h, D), as CPU flash does


def _diagonal_blocks(allowed: torch.Tensor, group: int) -> torch.Tensor:
    """(B, 1, n*G, n*G) bool -> (B*n, 1, G, G): the same-group blocks, also causal inside each group; a query row
    left with no key keeps its own key (padding queries; avoids an all-masked softmax, which gives NaN)."""
    b, n = allowed.shape[0], allowed.shape[-1] // group
    blocks = allowed.reshape(b, n, group, n, group).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)  # (B, n, G, G)
    blocks = blocks & torch.ones(group, group, dtype=torch.bool, device=allowed.device).tril()
    eye = torch.eye(group, dtype=torch.bool, device=allowed.device)
    blocks = blocks | (eye & ~blocks.any(dim=-1, keepdim=True))
    return blocks.reshape(b * n, 1, group, group)


def _as_allowed(mask: torch.Tensor | None, batch: int, seq_len: int) -> torch.Tensor | None:
    """The layer's mask as (B, 1, T, T) bool, True = may attend (additive float masks are converted)."""
    if mask is None:
        return None
    if mask.dtype != torch.bool:
        mask = mask > torch.finfo(mask.dtype).min / 2
    return mask[..., -seq_len:, -seq_len:].expand(batch, 1, seq_len, seq_len)


# ---------------------------------------------------------------------------------------------- model surgery


def enable_s2_attn(model: nn.Module, config: LongContextConfig) -> None:
    """Switch `model` (a transformers model, or a peft model around one) to S2-Attn for training."""
    base = _pretrained(model)
    register_s2_attn()
    setattr(base.config, RATIO_ATTR, config.group_size_ratio)
    base.set_attn_implementation(S2_ATTN)
    if base.config._attn_implementation != S2_ATTN:
        raise ConfigError(f"`long_context.enabled`: {type(base).__name__} cannot switch its attention implementation "
                          f"(it does not use transformers' AttentionInterface); S2-Attn needs a model that does.")


def use_full_attention(model: nn.Module, implementation: str = "sdpa") -> None:
    """Switch back to full attention (for evaluation and inference after S2-Attn training)."""
    base = _pretrained(model)
    base.set_attn_implementation(implementation)
    if hasattr(base.config, RATIO_ATTR):
        delattr(base.config, RATIO_ATTR)


def extend_rope(model: nn.Module, target_length: int) -> float:
    """Position interpolation: linear RoPE scaling so `target_length` maps onto the trained positions; returns the factor.

    Sets `config.rope_parameters` to rope_type "linear" and rebuilds every rotary embedding module from it (their
    inverse frequencies are computed once at construction). A target within the current context changes nothing (1.0).
    """
    config = _pretrained(model).config
    params = dict(config.rope_parameters)
    if params.get("rope_type", "default") not in ("default", "linear"):
        raise ConfigError(f"`long_context.target_length`: linear RoPE scaling needs rope_type 'default' or 'linear', "
                          f"the model uses {params['rope_type']!r}.")
    native = config.max_position_embeddings
    if target_length <= native:
        logger.info("target_length %d is within the model's context %d: RoPE left unchanged", target_length, native)
        return 1.0
    factor = target_length / native
    params.update(rope_type="linear", factor=params.get("factor", 1.0) * factor)
    config.rope_parameters = params
    config.max_position_embeddings = target_length
    _rebuild_rotary(model)
    return factor


def _rebuild_rotary(model: nn.Module) -> None:
    for name, module in list(model.named_modules()):
        if name and hasattr(module, "inv_freq") and hasattr(module, "config"):
            parent_name, _, attr = name.rpartition(".")
            rebuilt = type(module)(module.config).to(module.inv_freq.device)
            setattr(model.get_submodule(parent_name), attr, rebuilt)


def mark_long_context_trainable(model: nn.Module, patterns: Sequence[str] = ("embed", "norm")) -> list[str]:
    """Unfreeze parameters whose name contains a pattern (after peft froze the base); return their names.

    These are not LoRA weights: save them with the adapter (e.g. `{n: p for n, p in model.named_parameters() if n in
    names}`), as LongLoRA does with its trainable_params.bin.
    """
    names = [n for n, p in model.named_parameters() if any(pat in n for pat in patterns)]
    if not names:
        raise ConfigError(f"`long_context.trainable_params` {list(patterns)} match no parameter of "
                          f"{type(model).__name__}; its names look like {next(n for n, _ in model.named_parameters())!r}.")
    for name, param in model.named_parameters():
        if name in names:
            param.requires_grad_(True)
    return names


def prepare_long_context(model: nn.Module, config: LongContextConfig) -> list[str]:
    """Everything `long_context` asks of a (peft-wrapped) model before training; returns the unfrozen names."""
    if config.target_length:
        extend_rope(model, config.target_length)
    if not config.enabled:
        return []
    enable_s2_attn(model, config)
    return mark_long_context_trainable(model, config.trainable_params)


def _pretrained(model: nn.Module) -> nn.Module:
    """The transformers PreTrainedModel inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


# ---------------------------------------------------------------------------------------------- long inputs


class Tokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


def facts_from_evidence(evidence: Evidence) -> list[str]:
    """Every retrieved fact of every choice, best score first, each text once."""
    return [f.text for f in evidence.ranked_facts()]


def build_long_input(question_text: str, facts: Sequence[str], choices: Sequence[Choice] = (),
                     tokenizer: Tokenizer | None = None, max_tokens: int | None = None) -> str:
    """A multi-document prompt: numbered documents (given order, duplicates dropped), then question and choices.

    With `tokenizer` and `max_tokens`, documents are kept in order while the whole text fits in `max_tokens`.
    """
    if max_tokens is not None and tokenizer is None:
        raise ConfigError(f"`max_tokens` ({max_tokens}) needs a tokenizer to count tokens.")
    docs = list(dict.fromkeys(f.strip() for f in facts if f.strip()))
    tail = f"Question: {question_text}\n" + "".join(f"{c.label}. {c.text}\n" for c in choices) + "Answer:"
    if max_tokens is not None:
        docs = _fit(docs, tail, tokenizer, max_tokens)
    return "".join(f"Document {i}: {d}\n" for i, d in enumerate(docs, 1)) + tail


def _fit(docs: list[str], tail: str, tokenizer: Tokenizer, max_tokens: int) -> list[str]:
    """The longest prefix of `docs` whose prompt fits, by per-line counts, then checked on the whole text."""
    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    used, kept = count(tail), 0
    for i, doc in enumerate(docs, 1):
        used += count(f"Document {i}: {doc}\n")
        if used > max_tokens:
            break
        kept = i
    while kept and count("".join(f"Document {i}: {d}\n" for i, d in enumerate(docs[:kept], 1)) + tail) > max_tokens:
        kept -= 1  # BPE merges across line ends can differ from the per-line sum by a token or two
    return docs[:kept]
