"""`kqa train` with long_context: S2-Attn while training, multi-document inputs, unfrozen embeddings saved and reloaded."""

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from kqa.adapters import longlora
from kqa.adapters.config import LongContextConfig
from kqa.adapters.longlora import s2_attention
from kqa.adapters.reader import AdapterReader
from kqa.adapters.saving import load_model
from kqa.errors import ConfigError
from kqa.train import Trainer
from tests.test_adapter_model import FakeRetriever, tiny_config
from tests.test_train import QUESTIONS, train_config


class ManyFacts(FakeRetriever):
    """Twelve documents per question: more than a short prompt holds."""

    def run(self, question):
        evidence = super().run(question)
        extra = tuple(f.__class__(f.head, f.relation, f.tail, f"{f.text} (document {i})", score=-i)
                      for i in range(6) for f in evidence.per_choice[0])
        return evidence.__class__(question.id, tuple(per + extra for per in evidence.per_choice))


def test_long_context_trains_with_s2_attn_and_saves_unfrozen_weights(tiny_llama_dir, tmp_path, monkeypatch):
    adapter = tiny_config(tiny_llama_dir, method="gated+lora")
    groups = []  # S2-Attn's group size at each call: it must run in training, with the backbone in eval mode

    def counted(q, k, v, group, *args, **kwargs):
        groups.append(group)
        return s2_attention(q, k, v, group, *args, **kwargs)

    monkeypatch.setattr(longlora, "s2_attention", counted)
    long = LongContextConfig(enabled=True, group_size_ratio=0.25, target_length=512)
    trainer = Trainer(adapter, train_config(epochs=1, max_length=192, activation_cache=False), ManyFacts(),
                      progress=False, long_context=long)
    seen = {}
    original = trainer._prepare_long_context

    def spy(model):
        original(model)
        seen["attn"] = model.backbone.get_base_model().config._attn_implementation
        seen["embed"] = model.backbone.get_base_model().embed_tokens.weight.detach().clone()
        seen["rope"] = dict(model.backbone.get_base_model().config.rope_parameters)

    trainer._prepare_long_context = spy
    result = trainer.run(QUESTIONS, tmp_path / "out")
    assert seen["attn"] == "s2_attn"
    assert groups  # S2-Attn ran while the adapters trained
    saved = load_file(str(result.adapter_dir / "adapter.safetensors"))
    unfrozen = {k for k in saved if k.startswith("unfrozen.")}
    assert any("embed_tokens" in k for k in unfrozen) and any("norm" in k for k in unfrozen)
    embed_key = next(k for k in unfrozen if "embed_tokens" in k)
    assert not torch.equal(saved[embed_key], seen["embed"])  # the embeddings trained
    model, _ = load_model(result.adapter_dir)
    reloaded = dict(model.backbone.named_parameters())[embed_key.removeprefix("unfrozen.")]
    assert torch.equal(reloaded.detach(), saved[embed_key])
    # RoPE position interpolation is not a weight: loading re-applies the trained scaling (256 -> 512: factor 2)
    assert seen["rope"]["rope_type"] == "linear" and seen["rope"]["factor"] == 2.0
    assert dict(model.backbone.get_base_model().config.rope_parameters) == seen["rope"]


def test_a_long_context_adapter_is_read_with_its_rope_scaling_and_documents(tiny_llama_dir, tmp_path):
    adapter = tiny_config(tiny_llama_dir, method="gated+lora")
    long = LongContextConfig(enabled=True, group_size_ratio=0.25, target_length=512)
    trainer = Trainer(adapter, train_config(epochs=1, max_length=192, activation_cache=False), ManyFacts(),
                      progress=False, long_context=long)
    result = trainer.run(QUESTIONS, tmp_path / "out")
    reader = AdapterReader(result.adapter_dir)
    scores = reader.run(QUESTIONS[:2], [ManyFacts().run(q) for q in QUESTIONS[:2]])
    assert reader.documents and len(scores) == 2
    rope = reader.model.backbone.get_base_model().config.rope_parameters
    assert rope["rope_type"] == "linear" and rope["factor"] == 2.0
    # explain: the prompt's documents are every choice's facts, so each of them is left out of the whole question
    # in turn; its effect is what a one-at-a-time loop measures
    question, evidence = QUESTIONS[0], ManyFacts().run(QUESTIONS[0])
    prediction = reader.explain(question, evidence)
    effects = {f.text: f.attribution for c in prediction.choices for f in c.evidence if f.attribution is not None}
    assert set(effects) == {f.text for f in evidence.ranked_facts()} and len(effects) > 2
    chosen = question.labels.index(prediction.label)
    full = reader.run([question], [evidence])[0][chosen]
    for text in list(effects)[:3]:
        without = replace(evidence, per_choice=tuple(tuple(f for f in per if f.text != text)
                                                     for per in evidence.per_choice))
        assert effects[text] == pytest.approx(full - reader.run([question], [without])[0][chosen], abs=1e-5)


def test_long_context_needs_a_decoder_and_no_activation_cache(tiny_llama_dir, tmp_path):
    long = LongContextConfig(enabled=True)
    with pytest.raises(ConfigError, match=r"`train.activation_cache` cannot be used with `long_context.enabled`"):
        Trainer(tiny_config(tiny_llama_dir), train_config(activation_cache=True), FakeRetriever(), progress=False,
                long_context=long).run(QUESTIONS, tmp_path / "a")


def test_long_context_rejects_encoders(tmp_path, minilm_tokenizer):
    from tests.test_adapter_model import save_tiny_bert

    bert = save_tiny_bert(tmp_path / "bert", minilm_tokenizer)
    with pytest.raises(ConfigError, match=r"`long_context` applies to Llama-family decoders"):
        Trainer(tiny_config(bert), train_config(), FakeRetriever(), progress=False,
                long_context=LongContextConfig(enabled=True)).run(QUESTIONS, tmp_path / "b")
