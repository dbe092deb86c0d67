"""LongLoRA: S2-Attn against full attention and an explicit-mask reference, gradients, RoPE scaling, config, inputs."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from kqa.adapters.longlora import (
    LongContextConfig,
    build_long_input,
    enable_s2_attn,
    extend_rope,
    facts_from_evidence,
    mark_long_context_trainable,
    prepare_long_context,
    s2_attention,
    use_full_attention,
)
from kqa.errors import ConfigError
from kqa.types import Choice, Evidence, Fact

VOCAB = 99


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    """2 layers, 4 heads over 2 kv heads (GQA), sdpa; train mode (Llama has no dropout by default)."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         attn_implementation="sdpa")
    return LlamaForCausalLM(config).train()


def s2(ratio: float) -> LongContextConfig:
    return LongContextConfig(enabled=True, group_size_ratio=ratio)


def reference_s2(q, k, v, group: int, allowed=None):
    """Head by head softmax attention with an explicit (T, T) mask: causal & same group (& `allowed`).

    Heads [0, H//2) use groups [0, G), [G, 2G), ...; heads [H//2, H) use groups shifted by s = G//2, without wrap:
    [0, s), [s, s+G), ... (the last group of either kind may be shorter). q, k, v (B, H, T, D) -> (B, H, T, D).
    """
    _, heads, length, dim = q.shape
    pos = torch.arange(length)
    causal = pos[:, None] >= pos[None, :]
    plain_group = pos // group
    shifted_group = torch.div(pos - group // 2, group, rounding_mode="floor")  # -1 for the first half-group
    outs = []
    for h in range(heads):
        ids = plain_group if h < heads // 2 else shifted_group
        mask = causal & (ids[:, None] == ids[None, :])
        if allowed is not None:
            mask = mask & allowed[:, 0]
        scores = (q[:, h] @ k[:, h].transpose(-1, -2)) * dim**-0.5
        outs.append(scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v[:, h])
    return torch.stack(outs, dim=1)


# ------------------------------------------------------------------------------------------- equivalences


def test_group_covering_the_sequence_is_full_causal_attention():
    model, ids = tiny_llama(), torch.randint(0, VOCAB, (2, 24))
    full = model(ids).logits
    enable_s2_attn(model, s2(1.0))
    assert model.config._attn_implementation == "s2_attn"
    torch.testing.assert_close(model(ids).logits, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("length", "group"), [(16, 4), (24, 8), (18, 5), (23, 6), (7, 3)])
def test_small_groups_equal_the_explicit_mask_reference(length, group):
    torch.manual_seed(length)
    q, k, v = (torch.randn(2, 5, length, 8) for _ in range(3))  # 5 heads: halves of 2 and 3, as LongLoRA splits
    out = s2_attention(q, k, v, group).transpose(1, 2)  # (B, T, H, D) -> (B, H, T, D)
    torch.testing.assert_close(out, reference_s2(q, k, v, group), atol=1e-5, rtol=0)


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_mask_path_equals_the_reference(side):
    torch.manual_seed(1)
    length, group = 18, 5
    q, k, v = (torch.randn(2, 4, length, 8) for _ in range(3))
    pos = torch.arange(length)
    keep = torch.ones(2, length, dtype=torch.bool)
    if side == "right":
        keep[1, 13:] = False
    else:
        keep[1, :5] = False  # its first 5 queries see no key at all
    allowed = ((pos[:, None] >= pos[None, :]) & keep[:, None, :])[:, None]  # (B, 1, T, T), as sdpa_mask builds it
    out = s2_attention(q, k, v, group, allowed).transpose(1, 2)
    expected = reference_s2(q, k, v, group, allowed)
    real = keep[:, None, :, None].expand_as(out)  # padding queries are never read
    torch.testing.assert_close(out[real], expected[real], atol=1e-5, rtol=0)
    assert out.isfinite().all()


def test_model_s2_attn_equals_reference_and_is_causal():
    """Through the model: q, k, v captured from layer 0 give the reference output; future tokens change nothing."""
    model, ids = tiny_llama(), torch.randint(0, VOCAB, (1, 22))
    enable_s2_attn(model, s2(0.25))  # G = ceil(22 / 4) = 6: groups of 6, 6, 6, 4 (shifted: 3, 6, 6, 6, 1)
    attn, captured = model.model.layers[0].self_attn, {}
    hook = attn.o_proj.register_forward_pre_hook(lambda _m, args: captured.setdefault("o_in", args[0]))
    with torch.no_grad():
        logits = model(ids).logits
        hidden = model.model.layers[0].input_layernorm(model.model.embed_tokens(ids))
        cos, sin = model.model.rotary_emb(hidden, torch.arange(22)[None])
        q, k, v = (p(hidden).view(1, 22, -1, 8).transpose(1, 2) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
    hook.remove()
    k, v = k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)  # GQA: 2 kv heads serve 4 query heads
    expected = reference_s2(q, k, v, 6).transpose(1, 2).reshape(1, 22, 32)
    torch.testing.assert_close(captured["o_in"], expected, atol=1e-5, rtol=0)
    changed = ids.clone()
    changed[0, 15:] = (changed[0, 15:] + 1) % VOCAB  # same length, so the same groups
    with torch.no_grad():
        torch.testing.assert_close(model(changed).logits[:, :15], logits[:, :15], atol=1e-5, rtol=0)


def test_gradients_reach_lora_embeddings_and_norms_only():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    config = s2(0.25)
    names = prepare_long_context(model, config)
    assert any("embed_tokens" in n for n in names) and any("input_layernorm" in n for n in names)
    ids = torch.randint(0, VOCAB, (2, 30))
    model(input_ids=ids, labels=ids).loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(grads[n] is not None for n in grads if "lora_" in n)
    assert all(grads[n].abs().sum() > 0 for n in grads if "lora_B" in n)  # lora_A's is 0 while B is still 0
    for part in ("embed_tokens", "input_layernorm", "post_attention_layernorm", "model.norm."):
        assert all(grads[n].abs().sum() > 0 for n in grads if part in n), part
    frozen = [n for n in grads if "base_layer" in n or "mlp" in n or "k_proj" in n or "o_proj" in n]
    assert frozen and all(grads[n] is None for n in frozen)


def test_inference_after_training_uses_full_attention():
    model, ids = tiny_llama(), torch.randint(0, VOCAB, (2, 24))
    enable_s2_attn(model, s2(0.25))
    model(input_ids=ids, labels=ids).loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.eval()
    with torch.no_grad():
        eval_mode = model(ids).logits  # eval mode alone already falls back to full attention
    use_full_attention(model)
    assert model.config._attn_implementation == "sdpa" and not hasattr(model.config, "s2_group_size_ratio")
    fresh = tiny_llama(seed=1).eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = fresh(ids).logits
        torch.testing.assert_close(model(ids).logits, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(eval_mode, expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------- RoPE, config


def test_position_interpolation_divides_rotary_frequencies():
    model = tiny_llama()
    rotary = model.model.rotary_emb
    before = rotary.inv_freq.clone()
    cos, sin = rotary(torch.zeros(1), torch.arange(16)[None])
    assert extend_rope(model, 256) == 4.0
    rebuilt = model.model.rotary_emb
    assert rebuilt is not rotary and model.config.rope_parameters["rope_type"] == "linear"
    assert model.config.max_position_embeddings == 256
    torch.testing.assert_close(rebuilt.inv_freq, before / 4)
    cos4, sin4 = rebuilt(torch.zeros(1), 4 * torch.arange(16)[None])  # position 4p now looks like position p
    torch.testing.assert_close((cos4, sin4), (cos, sin), atol=1e-5, rtol=0)
    assert extend_rope(model, 128) == 1.0  # already within the context


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"group_size_ratio": 0}, r"group_size_ratio\n  Input should be greater than 0.*input_value=0"),
    ({"group_size_ratio": 1.5}, r"group_size_ratio\n  Input should be less than or equal to 1.*input_value=1.5"),
    ({"target_length": -4}, r"target_length\n  Input should be greater than 0.*input_value=-4"),
    ({"trainable_params": ["embed", " "]}, r"trainable_params\n.*every pattern must be a non-empty name substring"),
    ({"group_size": 4}, r"group_size\n  Extra inputs are not permitted"),
])
def test_config_errors_name_field_rule_and_value(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        LongContextConfig(**kwargs)


def test_trainable_patterns_that_match_nothing_are_an_error():
    with pytest.raises(ConfigError, match=r"`long_context.trainable_params` \['ln_f'\] match no parameter"):
        mark_long_context_trainable(tiny_llama(), ["ln_f"])


# ------------------------------------------------------------------------------------------- long inputs


class WordTokenizer:
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(range(len(text.split())))


def test_build_long_input_keeps_documents_within_the_budget():
    facts = [f"fact number {i} is here" for i in range(50)] + ["fact number 0 is here"]
    choices = (Choice("A", "river"), Choice("B", "desert"))
    text = build_long_input("Where do fish live?", facts, choices)
    assert text.count("Document ") == 50 and text.endswith("A. river\nB. desert\nAnswer:")
    short = build_long_input("Where do fish live?", facts, choices, tokenizer=WordTokenizer(), max_tokens=40)
    # 10 words of question and choices + 7 per document: 4 documents fit in 40, a 5th would need 45
    assert len(short.split()) == 38 and short.startswith("Document 1: fact number 0") and "Document 5:" not in short
    with pytest.raises(ConfigError, match=r"`max_tokens` \(40\) needs a tokenizer"):
        build_long_input("q", facts, max_tokens=40)


def test_facts_from_evidence_merges_choices_best_first():
    a, b, c = (Fact("h", "r", "t", text, score=score) for text, score in [("a", 0.2), ("b", 0.9), ("c", 0.5)])
    evidence = Evidence("q1", ((a, b), (b, c)))
    assert facts_from_evidence(evidence) == ["b", "c", "a"]


def test_ranked_facts_keep_each_text_once_with_its_best_score():
    low, high, other = (Fact("h", "r", "t", text, score=score) for text, score in [("x", 0.1), ("x", 0.9), ("y", 0.5)])
    evidence = Evidence("q1", ((low, other), (high,)))  # "x" found for two choices, scored differently for each
    assert evidence.ranked_facts() == (high, other)
    assert facts_from_evidence(evidence) == ["x", "y"]


# ------------------------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_smollm2_s2_attn_on_a_long_multi_document_input():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kqa.models import resolve_model

    path = resolve_model("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(path)
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    base.model.layers = base.model.layers[:6]  # the real weights, 6 of 30 layers: keeps the test under a minute
    base.config.num_hidden_layers = 6
    native = base.config.max_position_embeddings
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    facts = [f"a {w} is a kind of thing found near water number {i}" for i, w in
             enumerate(["fish", "frog", "duck", "reed", "otter", "crab"] * 20)]
    text = build_long_input("Where do fish live?", facts, (Choice("A", "river"), Choice("B", "desert")),
                            tokenizer=tokenizer, max_tokens=1024)
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert 900 < ids.shape[1] <= 1024
    prepare_long_context(model, LongContextConfig(enabled=True, target_length=4 * native))
    assert base.config.rope_parameters["factor"] == 4.0
    model.train()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert loss.isfinite() and base.model.embed_tokens.weight.grad is not None
