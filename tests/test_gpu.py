"""CUDA paths: QLoRA (LoRA over a 4-bit NF4 backbone) and LongLoRA's S2-Attn on a GPU.

Skipped on machines without CUDA (the CPU refusals are tested in test_pipelines.py and test_user_errors.py). The
models are tiny Llamas built from a config, with a WordPiece tokenizer written here from a small vocabulary, so the
file needs no packaged model: only torch with CUDA, bitsandbytes (`pip install 'kqa[gpu]'`), transformers and peft.
"""

from __future__ import annotations

import string

import pytest
import torch

from kqa.adapters.config import AdapterConfig, LoraSettings, TrainConfig
from kqa.adapters.encoding import collate, pad_id
from kqa.adapters.longlora import LongContextConfig, s2_attention
from kqa.adapters.model import build_model
from kqa.adapters.reader import AdapterReader
from kqa.train import Trainer
from tests.test_adapter_model import FakeRetriever
from tests.test_longlora import reference_s2
from tests.test_train import QUESTIONS

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A 2-layer Llama (hidden 64: every projection splits into whole 64-value NF4 blocks) and its tokenizer."""
    from transformers import BertTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("gpu-llama")
    pieces = list(string.ascii_lowercase + string.digits)
    words = sorted({w.strip("?.,").lower() for q in QUESTIONS for w in [*q.stem.split(), *(c.text for c in q.choices)]})
    vocab = [*SPECIAL, *string.punctuation, *pieces, *("##" + p for p in pieces), *words]
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(dict.fromkeys(vocab))})
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def qlora(folder, **overrides) -> AdapterConfig:
    values = {"backbone": str(folder), "method": "lora", "knowledge": "text", "quantization": "nf4",
              "lora": LoraSettings(r=8, alpha=16, dropout=0.0, target_modules=["q_proj", "v_proj"])}
    return AdapterConfig(**(values | overrides))


def batch(model, tokenizer, questions=QUESTIONS[:8]):
    encoder = model.make_encoder(tokenizer, 64)
    return collate([encoder.encode(q, FakeRetriever().run(q)) for q in questions], pad_id(tokenizer)).to("cuda")


def test_qlora_backbone_is_nf4_with_double_quantization_and_only_lora_trains(llama_dir):
    import bitsandbytes as bnb

    model, _ = build_model(qlora(llama_dir))
    quantized = [m for m in model.backbone.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 layers
    state = quantized[0].weight.quant_state
    assert state.quant_type == "nf4" and state.nested  # nested: the absmax constants are quantized too
    assert quantized[0].weight.device.type == "cuda"
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert all(".lora_" in name or name.startswith("heads.") for name in trainable), trainable
    assert {part for name in trainable for part in ("lora_A", "lora_B", "heads") if part in name} == {
        "lora_A", "lora_B", "heads"}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_qlora_overfits_a_batch_and_leaves_the_4bit_weights_untouched(llama_dir, checkpointing):
    import bitsandbytes as bnb

    model, tokenizer = build_model(qlora(llama_dir))
    if checkpointing:  # train.gradient_checkpointing: the NF4 layers run again in the backward pass
        model.recompute_layers()
    model.to("cuda").train()
    frozen = next(m for m in model.backbone.modules() if isinstance(m, bnb.nn.Linear4bit)).weight
    before = frozen.data.clone()
    data = batch(model, tokenizer)
    labels = torch.tensor([q.labels.index(q.answer) for q in QUESTIONS[:8]], device="cuda")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(data), labels)  # (B, C) logits against the gold choice
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(map(torch.isfinite, map(torch.tensor, losses)))
    assert losses[-1] < 0.5 * losses[0], losses
    assert torch.equal(frozen.data, before)


def test_qlora_training_saves_an_adapter_that_reloads_to_the_same_scores_on_cuda(llama_dir, tmp_path):
    train = TrainConfig(seed=1, train_fraction=0.6, dev_fraction=0.2, epochs=2, batch_size=4, lr=5e-3,
                        checkpoint_every=100, max_length=64)
    result = Trainer(qlora(llama_dir), train, FakeRetriever(), progress=False).run(QUESTIONS, tmp_path)
    assert result.steps == 6 and all(map(torch.isfinite, map(torch.tensor, result.losses)))
    evidence = [FakeRetriever().run(q) for q in QUESTIONS]
    first = AdapterReader(result.adapter_dir, device="cuda").run(QUESTIONS, evidence)
    again = AdapterReader(result.adapter_dir, device="cuda").run(QUESTIONS, evidence)
    assert first == again  # a fresh NF4 load of the same backbone + the saved LoRA weights: identical scores
    assert len({tuple(round(s, 3) for s in row) for row in first}) > 1  # the facts reach the scores


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("length", "group"), [(4096, 1024), (1000, 96)])
def test_s2_attn_on_cuda_equals_the_explicit_mask_reference(dtype, length, group):
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 4, length, 64, device="cuda", dtype=dtype) for _ in range(3))
    out = s2_attention(q, k, v, group).transpose(1, 2)  # (B, T, H, D) -> (B, H, T, D)
    expected = reference_s2(*(t.float().cpu() for t in (q, k, v)), group)  # the reference builds its masks on CPU
    tolerance = 1e-4 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(out.float().cpu(), expected, atol=tolerance, rtol=0)


@pytest.mark.parametrize("quantization", [None, "nf4"])
def test_long_context_trains_on_cuda_with_and_without_nf4(llama_dir, tmp_path, quantization):
    """LongLoRA's training setup on a GPU: S2-Attn, 2x position interpolation, trainable embeddings and norms, over
    a full-precision or (LongQLoRA-style) NF4 backbone."""
    long = LongContextConfig(enabled=True, group_size_ratio=0.25, target_length=1024)
    train = TrainConfig(seed=0, train_fraction=0.6, dev_fraction=0.2, epochs=1, max_steps=2, batch_size=4, lr=1e-3,
                        checkpoint_every=100, max_length=96)
    adapter = qlora(llama_dir, quantization=quantization)
    result = Trainer(adapter, train, FakeRetriever(), progress=False, long_context=long).run(QUESTIONS, tmp_path)
    assert result.steps == 2 and all(map(torch.isfinite, map(torch.tensor, result.losses)))
    scores = AdapterReader(result.adapter_dir, device="cuda").run(QUESTIONS[:4], [FakeRetriever().run(q)
                                                                                 for q in QUESTIONS[:4]])
    assert all(torch.isfinite(torch.tensor(row)).all() for row in scores)
