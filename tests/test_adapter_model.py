"""The gated knowledge adapter, LoRA, saving/loading and attribution on tiny config-built backbones."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from kqa.adapters import model as model_module
from kqa.adapters.config import AdapterConfig, LoraSettings
from kqa.adapters.encoding import collate, pad_id
from kqa.adapters.model import build_model, length_runs
from kqa.adapters.reader import AdapterReader, format_explanation
from kqa.adapters.saving import CONFIG, add_saved_adapter, load_model, read_adapter, save_adapter
from kqa.data import question_from_text
from kqa.errors import ConfigError, DeviceError, InputError, StoreError
from kqa.retrieval.control import MatchedControlRetriever, derangement
from kqa.types import Evidence, Fact


def make_question(stem, choices, qid, answer="A"):
    return replace(question_from_text(stem, choices, qid), answer=answer)


QUESTIONS = [
    make_question("Where would you keep a live fish?", ["aquarium", "desert", "oven"], "q1"),
    make_question("What do you use to cut paper?", ["scissors", "a spoon", "water", "the moon", "sun"], "q2"),
]


class FakeRetriever:
    """Fixed facts: two per choice, naming the choice (or a fixed topic)."""

    def __init__(self, topic: str | None = None):
        self.topic = topic

    def run(self, question):
        def facts(text):
            about = self.topic or text
            return (Fact(about, "RelatedTo", "x", f"{about} is related to {question.stem.split()[-1]}"),
                    Fact(about, "IsA", "y", f"{about} is a kind of thing found in {question.id}"))

        return Evidence(question.id, tuple(facts(c.text) for c in question.choices))


def save_tiny_bert(folder, tokenizer):
    """A 3-layer BERT (hidden 32) saved as an HF folder with the MiniLM vocabulary."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=3,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=256)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_tokenizer):
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), minilm_tokenizer)


@pytest.fixture(params=["bert", "llama"])
def backbone_dir(request, tiny_bert_dir, tiny_llama_dir):
    return tiny_bert_dir if request.param == "bert" else tiny_llama_dir


def tiny_config(folder, **overrides) -> AdapterConfig:
    values = {"backbone": str(folder), "top_layers": 1, "width": 16, "heads": 4, "max_fact_tokens": 24,
              "head_width": 16, "dropout": 0.0, "body_init_scale": 1.0}
    return AdapterConfig(**(values | overrides))


def batch_for(model, tokenizer, questions=QUESTIONS, retriever=None):
    encoder = model.make_encoder(tokenizer, 64)
    retriever = retriever or FakeRetriever()
    return collate([encoder.encode(q, retriever.run(q)) for q in questions], pad_id(tokenizer))


def logits(model, batch, prefix=None):
    model.eval()
    with torch.no_grad():
        return model(batch, prefix)


def test_backbone_frozen_and_trainable_parts_counted(backbone_dir):
    model, _ = build_model(tiny_config(backbone_dir, method="gated+lora"))
    frozen = [k for k, p in model.backbone.named_parameters() if ".lora_" not in k]
    assert frozen and all(not p.requires_grad for k, p in model.backbone.named_parameters() if k in frozen)
    trainable = {k.split(".")[0] for k, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"backbone", "adapters", "heads"}  # backbone.* here are LoRA matrices only
    assert 0 < model.trainable_parameters() < model.backbone_parameters()


def test_gate_is_strictly_between_zero_and_one(tiny_bert_dir):
    model, _ = build_model(tiny_config(tiny_bert_dir))
    h = torch.randn(3, 5, 32) * 10
    g = model.adapters["default"].gate_value(h, torch.ones(3, 5, dtype=torch.bool))
    assert g.shape == (3, 1) and bool(((g > 0) & (g < 1)).all())


def test_extra_padding_of_facts_and_tokens_leaves_logits_unchanged(backbone_dir):
    model, tokenizer = build_model(tiny_config(backbone_dir))
    batch = batch_for(model, tokenizer)
    pad = pad_id(tokenizer)
    wider = replace(
        batch,
        input_ids=torch.cat([batch.input_ids, torch.full((len(batch.input_ids), 7), pad)], 1),
        attention_mask=torch.cat([batch.attention_mask, torch.zeros(len(batch.input_ids), 7, dtype=torch.long)], 1),
        fact_ids=torch.cat([batch.fact_ids, torch.full((len(batch.fact_ids), 5), pad)], 1),
        fact_mask=torch.cat([batch.fact_mask, torch.zeros(len(batch.fact_ids), 5, dtype=torch.bool)], 1),
    )
    torch.testing.assert_close(logits(model, wider), logits(model, batch), atol=1e-5, rtol=1e-5)


def test_knowledge_changes_the_logits(backbone_dir):
    model, tokenizer = build_model(tiny_config(backbone_dir))
    with_facts = logits(model, batch_for(model, tokenizer))
    other_facts = logits(model, batch_for(model, tokenizer, retriever=FakeRetriever("volcano")))
    assert not torch.allclose(with_facts, other_facts, atol=1e-4)


def test_missing_choices_get_minus_infinity_and_finite_gradients(tiny_bert_dir):
    model, tokenizer = build_model(tiny_config(tiny_bert_dir, method="gated+lora"))
    model.train()
    out = model(batch_for(model, tokenizer))  # 3 and 5 choices
    assert out.shape == (2, 5) and torch.isinf(out[0, 3:]).all() and torch.isfinite(out[1]).all()
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_removing_hooks_restores_the_backbone_exactly(backbone_dir):
    model, tokenizer = build_model(tiny_config(backbone_dir))
    batch = batch_for(model, tokenizer)
    with torch.no_grad():
        plain = model.backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        with model.injector.feeding(model._knowledge(batch)):
            injected = model.backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        model.injector.remove()
        with model.injector.feeding(model._knowledge(batch)):
            after = model.backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    assert not torch.equal(plain, injected)
    assert torch.equal(plain, after)


def test_cached_prefix_gives_the_same_logits(backbone_dir):
    config = tiny_config(backbone_dir, method="gated+lora", lora=LoraSettings(layers_to_transform=[1]), top_layers=1)
    model, tokenizer = build_model(config)
    batch = batch_for(model, tokenizer)
    torch.testing.assert_close(logits(model, batch, model.capture_prefix(batch)), logits(model, batch),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backbone,method,scoring", [
    ("bert", "gated", "head"), ("llama", "gated", "head"), ("bert", "gated+lora", "head"),
    ("llama", "gated+lora", "head"), ("llama", "lora", "likelihood")])  # likelihood scoring needs a decoder
def test_runs_of_similar_length_give_the_logits_of_one_pass(tiny_bert_dir, tiny_llama_dir, backbone, method, scoring,
                                                             monkeypatch):
    folder = tiny_bert_dir if backbone == "bert" else tiny_llama_dir
    config = tiny_config(folder, method=method, scoring=scoring, lora=LoraSettings(layers_to_transform=[1]))
    model, tokenizer = build_model(config)
    batch = batch_for(model, tokenizer)  # 8 sequences of 3 widths and more
    runs = length_runs(batch, 3)
    widths = [batch.rows(rows).input_ids.shape[1] for rows in runs]
    assert len(runs) == 3 and widths == sorted(widths, reverse=True) and widths[-1] < batch.input_ids.shape[1]
    monkeypatch.setattr(model_module, "RUN_ROWS", 3)
    by_runs = logits(model, batch), logits(model, batch, model.capture_prefix(batch))
    monkeypatch.setattr(model_module, "RUN_ROWS", len(batch.input_ids))
    whole = logits(model, batch)
    for got in by_runs:
        torch.testing.assert_close(got, whole, atol=1e-5, rtol=1e-5)


def _randomize_lora(model, seed):
    generator = torch.Generator().manual_seed(seed)
    for key, param in model.backbone.named_parameters():
        if ".lora_B." in key:
            param.data = torch.randn(param.shape, generator=generator) * 0.1


def test_lora_merge_and_unload_keeps_the_outputs(backbone_dir):
    model, tokenizer = build_model(tiny_config(backbone_dir, method="gated+lora"))
    _randomize_lora(model, 1)
    batch = batch_for(model, tokenizer)
    before = logits(model, batch)
    model.merge_into_backbone()
    assert not any(".lora_" in k for k, _ in model.backbone.named_parameters())
    torch.testing.assert_close(logits(model, batch), before, atol=1e-5, rtol=1e-5)


def test_weighted_lora_combination(tiny_bert_dir):
    model, tokenizer = build_model(tiny_config(tiny_bert_dir, method="lora"), name="a")
    _randomize_lora(model, 1)
    model.add_adapter("b")
    _randomize_lora(model, 2)
    batch = batch_for(model, tokenizer)
    model.set_active("a")
    only_a = logits(model, batch)
    model.combine_lora(["a", "b"], [1.0, 0.0], "a_only")
    torch.testing.assert_close(logits(model, batch), only_a, atol=1e-5, rtol=1e-5)
    model.combine_lora(["a", "b"], [0.5, 0.5], "mix")
    mixed = logits(model, batch)
    assert not torch.allclose(mixed, only_a, atol=1e-5)
    model.merge_into_backbone()
    torch.testing.assert_close(logits(model, batch), mixed, atol=1e-5, rtol=1e-5)


def test_save_load_and_switch_by_name(tiny_bert_dir, tmp_path):
    saved = {}
    for name, seed in (("first", 1), ("second", 2)):
        model, tokenizer = build_model(tiny_config(tiny_bert_dir, method="gated+lora"), seed=seed)
        _randomize_lora(model, seed)
        save_adapter(model, tmp_path / name, graph_checksum="abc")
        saved[name] = logits(model, batch_for(model, tokenizer))
    meta = json.loads((tmp_path / "first" / CONFIG).read_text())
    assert meta["graph_checksum"] == "abc" and meta["backbone"]["sha256"]["model.safetensors"]
    reader = AdapterReader({"first": tmp_path / "first", "second": tmp_path / "second"})
    evidence = [FakeRetriever().run(q) for q in QUESTIONS]
    for name in ("first", "second"):
        reader.set_active(name)
        got = reader.run(QUESTIONS, evidence)
        for row, want in zip(got, saved[name]):
            assert row == pytest.approx(want[: len(row)].tolist(), abs=1e-5)
    with pytest.raises(InputError, match="unknown adapter name 'third'"):
        reader.set_active("third")


def test_adapters_loaded_together_must_leave_the_backbone_alone_and_read_the_same_inputs(tiny_bert_dir, tmp_path):
    with pytest.raises(InputError, match=r"at least one saved adapter folder \(`adapters`\), got none"):
        AdapterReader({}).warm_up()
    with pytest.raises(InputError, match="at least one saved adapter folder"):
        AdapterReader().uses_facts  # noqa: B018  (the property raises)
    for name in ("full1", "full2"):  # `method: full` saves its own backbone weights
        save_adapter(build_model(tiny_config(tiny_bert_dir, method="full"))[0], tmp_path / name)
    with pytest.raises(StoreError, match=r"full2 changes the backbone's own weights \(`method: full`"):
        AdapterReader({"a": tmp_path / "full1", "b": tmp_path / "full2"}).warm_up()
    lora = build_model(tiny_config(tiny_bert_dir, method="lora"))[0]
    for name, length in (("short", 48), ("long", 64)):
        save_adapter(lora, tmp_path / name, training={"train": {"max_length": length}})
    with pytest.raises(StoreError, match=r"long: adapters loaded together must read the same inputs; its "
                                         r"`train.max_length` is 64, the first adapter's 48"):
        AdapterReader({"a": tmp_path / "short", "b": tmp_path / "long"}).warm_up()
    given = AdapterReader({"a": tmp_path / "short", "b": tmp_path / "long"}, max_length=64)  # the reader's own
    given.warm_up()
    assert given.max_length == 64 and sorted(given.model.heads) == ["a", "b"]
    save_adapter(lora, tmp_path / "documents", training={"train": {"max_length": 48},
                                                         "long_context": {"enabled": True}})
    with pytest.raises(StoreError, match=r"`long_context` is \{'enabled': True, 'target_length': None\}"):
        AdapterReader({"a": tmp_path / "short", "b": tmp_path / "documents"}).warm_up()


def test_only_trainable_weights_are_saved(tiny_bert_dir, tmp_path):
    model, _ = build_model(tiny_config(tiny_bert_dir, method="gated+lora"))
    save_adapter(model, tmp_path)
    weights = read_adapter(tmp_path).weights
    assert sum(t.numel() for t in weights.values()) == model.trainable_parameters()


def test_loading_refuses_a_different_backbone(tiny_bert_dir, tmp_path):
    model, _ = build_model(tiny_config(tiny_bert_dir))
    save_adapter(model, tmp_path)
    meta = json.loads((tmp_path / CONFIG).read_text())
    meta["backbone"]["sha256"]["model.safetensors"] = "0" * 64
    (tmp_path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="`backbone.sha256` does not match"):
        load_model(tmp_path)


def test_adding_an_adapter_of_another_architecture_is_refused(tiny_bert_dir, tmp_path):
    model, _ = build_model(tiny_config(tiny_bert_dir, width=16))
    save_adapter(model, tmp_path)
    other, _ = build_model(tiny_config(tiny_bert_dir, width=8))
    with pytest.raises(StoreError, match=r"differs from the model's in \['width'\]"):
        add_saved_adapter(other, tmp_path, "x")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error")
def test_qlora_on_cpu_names_the_cpu_alternative(tiny_llama_dir):
    with pytest.raises(DeviceError, match=r"quantization: nf4` \(QLoRA\) needs a CUDA GPU.*quantization: null"):
        build_model(tiny_config(tiny_llama_dir, method="lora", quantization="nf4"))


@pytest.mark.parametrize(("values", "message"), [
    ({"width": 30, "heads": 8}, r"`width` \(30\) must be divisible by `heads` \(8\)"),
    ({"method": "gated", "quantization": "nf4"}, "needs `method` lora or gated\\+lora"),
    ({"method": "gated", "loraplus_lr_ratio": 16}, "`loraplus_lr_ratio` needs a LoRA method"),
    ({"layers": []}, "`layers` must be a non-empty list"),
    ({"method": "adalora"}, r"`method` 'adalora' is not an adapter method. Valid methods are: gated, lora, lora-fa"),
    ({"method": "gated+gated"}, r"`method` 'gated\+gated' is not an adapter method"),
    ({"method": "lora-fa", "loraplus_lr_ratio": 16}, "lora-fa has its own optimizer"),
    ({"widht": 4}, "Extra inputs are not permitted"),
])
def test_config_errors_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        AdapterConfig(**values)


def test_layers_beyond_the_backbone_are_a_config_error(tiny_bert_dir):
    with pytest.raises(ConfigError, match=r"`adapter.layers` \[7\] exceed the backbone's 3 layers"):
        build_model(tiny_config(tiny_bert_dir, layers=[7]))


def test_loraplus_gives_b_matrices_a_larger_learning_rate(tiny_bert_dir):
    from kqa.adapters.config import TrainConfig
    from kqa.adapters.optim import make_optimizer

    model, _ = build_model(tiny_config(tiny_bert_dir, method="gated+lora", loraplus_lr_ratio=16))
    optimizer = make_optimizer(model, model.backbone, model.config, TrainConfig(lr=1e-3))
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    b = next(p for k, p in named.items() if ".lora_B." in k)
    a = next(p for k, p in named.items() if ".lora_A." in k)
    gate = named["adapters.default.gate.weight"]
    assert (lr_of[id(a)], lr_of[id(b)], lr_of[id(gate)]) == (1e-3, 16e-3, 1e-3)
    assert set(lr_of) == {id(p) for p in model.parameters() if p.requires_grad}


def test_explain_gives_leave_one_out_attributions(tiny_bert_dir):
    model, tokenizer = build_model(tiny_config(tiny_bert_dir))
    reader = AdapterReader(model=model.eval(), tokenizer=tokenizer)
    question, evidence = QUESTIONS[0], FakeRetriever().run(QUESTIONS[0])
    prediction = reader.explain(question, evidence)
    chosen = next(c for c in prediction.choices if c.label == prediction.label)
    index = question.labels.index(prediction.label)
    assert [f.attribution is not None for f in chosen.evidence] == [True, True]
    without_first = Evidence(question.id, tuple(per if i != index else per[1:]
                                                for i, per in enumerate(evidence.per_choice)))
    expected = chosen.score - reader.run([question], [without_first])[0][index]
    assert chosen.evidence[0].attribution == pytest.approx(expected, abs=1e-5)
    assert all(f.attribution is None for c in prediction.choices if c is not chosen for f in c.evidence)
    assert chosen.text in format_explanation(prediction)


def test_control_retriever_never_returns_a_questions_own_facts():
    questions = [make_question(f"question {i}?", ["a", "b", "c"], f"q{i}") for i in range(7)]
    control = MatchedControlRetriever(FakeRetriever(), questions, seed=3)
    for q in questions:
        evidence = control.run(q)
        assert evidence.question_id == q.id and len(evidence.per_choice) == 3
        assert all(f.origin == "control" and q.id not in f.text for per in evidence.per_choice for f in per)
    assert derangement(7, 3) == derangement(7, 3) and all(i != j for i, j in enumerate(derangement(7, 3)))
    with pytest.raises(InputError, match="was not among the questions"):
        control.run(make_question("new?", ["a", "b"], "unseen"))


@pytest.mark.slow
def test_packaged_minilm_trainable_share_is_under_five_percent(capsys):
    model, tokenizer = build_model(AdapterConfig(method="gated"))
    share = model.trainable_parameters() / model.backbone_parameters()
    print(f"MiniLM-L6 gated adapter: {model.trainable_parameters():,} trainable of "
          f"{model.backbone_parameters():,} ({100 * share:.2f}%)")
    assert share < 0.05
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch = batch_for(model, tokenizer)
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(model(batch), torch.tensor([0, 0]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert torch.isfinite(loss)
