"""`adapter.scoring: likelihood`: a decoder reader scored by its own LM head starts as the zero-shot scorer and
trains only its peft weights."""

from __future__ import annotations

import pytest
import torch

from kqa.adapters.encoding import QuestionEncoder, collate, pad_id
from kqa.adapters.model import build_model
from kqa.adapters.saving import load_model, save_adapter
from kqa.config import ModelConfig, ScorerConfig
from kqa.errors import ConfigError, InputError
from kqa.scoring import CausalLMScorer
from kqa.types import Choice, Evidence, Question
from tests.adapters.conftest import perturb
from tests.test_adapter_model import QUESTIONS, logits, tiny_config


def likelihood_reader(folder, **overrides):
    return build_model(tiny_config(folder, method="lora", knowledge="text", scoring="likelihood", **overrides))


def plain_batch(model, tokenizer, questions=QUESTIONS):
    encoder = model.make_encoder(tokenizer, 64)
    return collate([encoder.encode(q, Evidence.empty(q)) for q in questions], pad_id(tokenizer))


def test_an_untrained_likelihood_reader_scores_as_the_zero_shot_scorer(tiny_llama_dir, tiny_llama, minilm_tokenizer):
    model, tokenizer = likelihood_reader(tiny_llama_dir)
    got = logits(model, plain_batch(model, tokenizer))  # (B, C): LoRA's B starts at zero
    scorer = CausalLMScorer(ModelConfig(name="tiny"), ScorerConfig(mode="mean", template="Question: {question}\nAnswer:"),
                            model=tiny_llama, tokenizer=minilm_tokenizer)
    for row, (question, expected) in enumerate(zip(QUESTIONS, scorer.run(QUESTIONS))):
        torch.testing.assert_close(got[row, : len(question.choices)], torch.tensor(expected), atol=1e-4, rtol=1e-4)
    assert torch.isinf(got[0, 3:]).all()  # the first question has 3 choices of the batch's 5


def test_only_lora_trains_and_the_choice_tokens_carry_the_gradient(tiny_llama_dir):
    model, tokenizer = likelihood_reader(tiny_llama_dir)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in k for k in trainable)  # no scoring MLP, the LM head stays frozen
    perturb(model, 0)
    model.train()
    out = model(plain_batch(model, tokenizer))
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 0])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters() if p.requires_grad)


def test_a_saved_likelihood_reader_loads_with_the_same_scores(tiny_llama_dir, tmp_path):
    model, tokenizer = likelihood_reader(tiny_llama_dir)
    perturb(model, 1)
    save_adapter(model, tmp_path)
    loaded, _ = load_model(tmp_path)
    batch = plain_batch(model, tokenizer)
    torch.testing.assert_close(logits(loaded, batch), logits(model, batch), atol=1e-5, rtol=1e-5)


def test_likelihood_scoring_needs_a_decoder(tiny_bert_dir):
    with pytest.raises(ConfigError, match=r"`adapter.scoring: likelihood`.*use `adapter.scoring: head`"):
        likelihood_reader(tiny_bert_dir)


def test_the_decoder_encoder_marks_the_choice_tokens_and_refuses_an_empty_choice(minilm_tokenizer):
    encoder = QuestionEncoder(minilm_tokenizer, "decoder", 16, 32, 4, stream=False, text=True)
    encoded = encoder.encode(QUESTIONS[1], Evidence.empty(QUESTIONS[1]))
    for pair, n, choice in zip(encoded.pairs, encoded.choice_tokens, QUESTIONS[1].choices):
        assert list(pair[-n:]) == minilm_tokenizer(" " + choice.text, add_special_tokens=False)["input_ids"]
    long = Question("q", "word " * 50 + "?", QUESTIONS[1].choices)
    assert all(len(p) == 16 for p in encoder.encode(long, Evidence.empty(long)).pairs)  # cut from the left
    assert QuestionEncoder(minilm_tokenizer, "encoder", 16, 32, 4).encode(long).choice_tokens == (0,) * 5
    empty = Question("q", "What?", (Choice("A", "water"), Choice("B", " ")))
    with pytest.raises(InputError, match=r"at least one token, got ' '"):
        encoder.encode(empty, Evidence.empty(empty))
