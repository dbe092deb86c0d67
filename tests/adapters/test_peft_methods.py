"""Every `adapter.method` on both backbone families: frozen backbone, gradients, padding, saving, cache rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from kqa.adapters.config import METHODS, PEFT_METHODS, IA3Settings, TrainConfig
from kqa.adapters.encoding import pad_id
from kqa.adapters.model import build_model, check_cache_allowed
from kqa.adapters.optim import make_optimizer
from kqa.adapters.peft_methods import check_applies, is_peft_key
from kqa.adapters.saving import load_model, read_adapter, save_adapter
from kqa.errors import ConfigError
from tests.adapters.conftest import perturb
from tests.test_adapter_model import QUESTIONS, batch_for, logits, tiny_config

PROMPT = {"num_virtual_tokens": 3, "encoder_hidden_size": 8}


def config_for(folder, method, **overrides):
    return tiny_config(folder, method=method, prompt=PROMPT, **overrides)


def test_every_method_is_a_valid_config_and_old_spellings_still_work():
    assert {"gated", "lora", "gated+lora", "lora-fa", "gated+ia3", "p-tuning"} <= set(METHODS)
    assert tiny_config("x", method="gated+lora").uses_lora and tiny_config("x", method="gated+lora").uses_gated
    assert tiny_config("x", method="gated+prefix").peft_method == "prefix"
    assert tiny_config("x", method="ia3").uses_gated is False


@pytest.mark.parametrize("method", [*PEFT_METHODS, "gated+prompt", "gated+prefix", "gated+ia3"])
def test_only_the_method_trains_and_every_trainable_part_gets_a_gradient(backbone_dir, method):
    model, tokenizer = build_model(config_for(backbone_dir, method))
    backbone_keys = [k for k, _ in model.backbone.named_parameters() if not is_peft_key(k)]
    assert backbone_keys and not any(p.requires_grad for k, p in model.backbone.named_parameters()
                                     if k in backbone_keys)
    perturb(model, 5)  # LoRA's B starts at zero, which would leave A without a gradient
    model.train()
    out = model(batch_for(model, tokenizer))  # questions with 3 and 5 choices
    assert out.shape == (2, 5) and torch.isinf(out[0, 3:]).all() and torch.isfinite(out[1]).all()
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    peft = {k: p for k, p in model.backbone.named_parameters() if p.requires_grad}
    assert peft, "the peft part has no trainable parameter"
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in peft.values()), sorted(peft)
    assert 0 < model.trainable_parameters() < model.backbone_parameters()


@pytest.mark.parametrize("method", ["prompt", "p-tuning", "gated+prompt", "gated+prefix"])
def test_prompt_methods_ignore_extra_padding(backbone_dir, method):
    """Virtual tokens are prepended: pooling and the gate must still see exactly the real tokens."""
    model, tokenizer = build_model(config_for(backbone_dir, method))
    perturb(model, 3)
    batch = batch_for(model, tokenizer)
    wider = replace(batch, input_ids=torch.cat([batch.input_ids, torch.full((len(batch.input_ids), 6),
                                                                            pad_id(tokenizer))], 1),
                    attention_mask=torch.cat([batch.attention_mask,
                                              torch.zeros(len(batch.input_ids), 6, dtype=torch.long)], 1))
    torch.testing.assert_close(logits(model, wider), logits(model, batch), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["lora-fa", "prefix", "prompt", "p-tuning", "gated+ia3"])
def test_save_and_load_give_the_same_logits(tiny_bert_dir, tmp_path, method):
    model, tokenizer = build_model(config_for(tiny_bert_dir, method))
    perturb(model, 1)
    save_adapter(model, tmp_path)
    weights = read_adapter(tmp_path).weights
    frozen_a = sum(t.numel() for k, t in weights.items() if ".lora_A." in k) if method == "lora-fa" else 0
    assert sum(t.numel() for t in weights.values()) == model.trainable_parameters() + frozen_a
    loaded, _ = load_model(tmp_path)
    batch = batch_for(model, tokenizer)
    torch.testing.assert_close(logits(loaded, batch), logits(model, batch), atol=1e-5, rtol=1e-5)


def test_lora_fa_keeps_a_frozen_and_trains_b_and_the_head(tiny_bert_dir):
    model, tokenizer = build_model(config_for(tiny_bert_dir, "gated+lora-fa"))
    named = dict(model.named_parameters())
    a_keys = [k for k in named if ".lora_A." in k]
    before = {k: p.detach().clone() for k, p in named.items() if ".lora_" in k or k.startswith("heads.")}
    optimizer = make_optimizer(model, model.backbone, model.config, TrainConfig(lr=1e-2))
    model.train()
    for _ in range(2):
        torch.nn.functional.cross_entropy(model(batch_for(model, tokenizer)), torch.tensor([0, 1])).backward()
        optimizer.step()
        optimizer.zero_grad()
    assert a_keys and all(not named[k].requires_grad and torch.equal(named[k], before[k]) for k in a_keys)
    changed = {k for k, v in before.items() if not torch.equal(named[k], v)}
    assert any(".lora_B." in k for k in changed) and "heads.default.2.weight" in changed


def test_prompt_methods_refuse_the_activation_cache(tiny_bert_dir):
    model, _ = build_model(config_for(tiny_bert_dir, "gated+p-tuning"))
    with pytest.raises(ConfigError, match=r"`train.activation_cache` cannot be used with `adapter.method` "
                                          r"'gated\+p-tuning'.*use lora, lora-fa or ia3"):
        check_cache_allowed(model)


def test_ia3_in_the_adapted_layers_keeps_the_cache_exact(backbone_dir):
    config = config_for(backbone_dir, "gated+ia3", layers=[1], ia3=IA3Settings(layers_to_transform=[1]))
    model, tokenizer = build_model(config)
    check_cache_allowed(model)
    ia3 = [k for k, _ in model.backbone.named_parameters() if ".ia3_" in k]
    assert ia3 and all(".1." in k for k in ia3)
    perturb(model, 2)
    batch = batch_for(model, tokenizer)
    torch.testing.assert_close(logits(model, batch, model.capture_prefix(batch)), logits(model, batch),
                               atol=1e-5, rtol=1e-5)
    below = config_for(backbone_dir, "gated+ia3", layers=[1])
    with pytest.raises(ConfigError, match=r"every \(IA\)\^3 layer at or above .* `adapter.ia3.layers_to_transform`"):
        check_cache_allowed(build_model(below)[0])


def test_ia3_merge_keeps_the_outputs(tiny_bert_dir):
    model, tokenizer = build_model(config_for(tiny_bert_dir, "gated+ia3"))
    perturb(model, 4)
    batch = batch_for(model, tokenizer)
    before = logits(model, batch)
    model.merge_into_backbone()
    assert not any(".ia3_" in k for k, _ in model.backbone.named_parameters())
    torch.testing.assert_close(logits(model, batch), before, atol=1e-5, rtol=1e-5)


def test_a_method_the_backbone_cannot_run_is_a_config_error():
    from transformers import DistilBertConfig, DistilBertModel

    backbone = DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32))
    with pytest.raises(ConfigError, match=r"prefix tuning feeds past keys/values .* DistilBertModel .* takes no "
                                          r"`past_key_values`. Use `prompt` or `p-tuning`"):
        check_applies(backbone, tiny_config("distilbert", method="prefix"))
    check_applies(backbone, tiny_config("distilbert", method="prompt"))  # input prompts work on it


def test_unknown_target_modules_are_a_config_error(tiny_bert_dir):
    with pytest.raises(ConfigError, match=r"`adapter.method` 'ia3' cannot be applied to `adapter.backbone`.*"
                                          r"Set the method's target modules"):
        build_model(config_for(tiny_bert_dir, "ia3", ia3=IA3Settings(target_modules=["q_proj"])))


@pytest.mark.slow
# SmolLM2 runs the methods whose decoder path differs (past keys/values, prepended tokens, FFN rescaling); its LoRA
# is covered by pipelines/decoder-lora.yaml's tests, and every step through it costs seconds on a CPU
@pytest.mark.parametrize(("backbone", "methods"), [("minilm-l6", PEFT_METHODS),
                                                   ("smollm2-135m", ("prefix", "prompt", "ia3"))])
def test_peft_methods_train_on_the_packaged_backbones(backbone, methods):
    """One step of each peft method beside the gated adapter on the real MiniLM encoder and SmolLM2 decoder."""
    import copy

    from transformers import AutoTokenizer

    from kqa.adapters.backbone import load_backbone
    from kqa.adapters.model import KnowledgeModel
    from kqa.models import resolve_model

    frozen, _ = load_backbone(tiny_config(backbone))  # loaded once; each method wraps its own copy
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(backbone))
    for method in methods:
        model = KnowledgeModel(copy.deepcopy(frozen), tiny_config(backbone, method=f"gated+{method}", width=32))
        model.train()
        out = model(batch_for(model, tokenizer, questions=QUESTIONS[:1]))
        torch.nn.functional.cross_entropy(out, torch.tensor([0])).backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), (backbone, method)
