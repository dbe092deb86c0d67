"""Adapter arithmetic on outputs: weights (1, 0) reproduce A, (A + B) - B gives back A, the CLI parses weights."""

from __future__ import annotations

import json

import pytest
import torch

from kqa.adapters.arithmetic import AdapterCombiner
from kqa.adapters.model import build_model
from kqa.adapters.saving import load_model, read_adapter, save_adapter
from kqa.errors import InputError
from tests.adapters.conftest import perturb
from tests.test_adapter_model import batch_for, logits, tiny_config


def saved_pair(folder, tmp_path, method, seeds=(0, 0)):
    """Two adapters from the same initialisation (init seed 0), moved apart as if trained on different data."""
    paths = []
    for name, init_seed, noise in (("a", seeds[0], 1), ("b", seeds[1], 2)):
        model, tokenizer = build_model(tiny_config(folder, method=method, prompt={"num_virtual_tokens": 2}),
                                       seed=init_seed)
        perturb(model, noise)
        paths.append(save_adapter(model, tmp_path / name))
    return paths, tokenizer


def outputs(folder, tokenizer):
    model, _ = load_model(folder)
    return logits(model, batch_for(model, tokenizer))


@pytest.mark.parametrize("method", ["gated+lora", "ia3", "prompt"])
def test_adding_then_subtracting_a_task_vector_gives_back_the_adapter(tiny_bert_dir, tmp_path, method):
    (a, b), tokenizer = saved_pair(tiny_bert_dir, tmp_path, method)
    combiner = AdapterCombiner()
    only_a = combiner.run([a, b], [1.0, 0.0], tmp_path / "a_only").path
    both = combiner.run([a, b], [1.0, 1.0], tmp_path / "a_plus_b").path
    back = combiner.run([both, b], [1.0, -1.0], tmp_path / "back").path
    want = outputs(a, tokenizer)
    torch.testing.assert_close(outputs(only_a, tokenizer), want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outputs(back, tokenizer), want, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(outputs(both, tokenizer), want, atol=1e-3)


def test_weighted_lora_is_the_exact_weighted_sum_of_updates(tiny_bert_dir, tmp_path):
    (a, b), tokenizer = saved_pair(tiny_bert_dir, tmp_path, "lora")
    result = AdapterCombiner().run([a, b], [0.7, 0.3], tmp_path / "mix")
    assert result.lora_rank == 16 and read_adapter(result.path).config.lora.r == 16  # "cat": ranks add up

    def merged_query(folder):  # the first layer's query weight with the LoRA update merged in
        model, _ = load_model(folder)
        model.merge_into_backbone()
        return model.backbone.encoder.layer[0].attention.self.query.weight.detach()

    plain = build_model(tiny_config(tiny_bert_dir))[0].backbone.encoder.layer[0].attention.self.query.weight
    expected = plain + 0.7 * (merged_query(a) - plain) + 0.3 * (merged_query(b) - plain)
    torch.testing.assert_close(merged_query(result.path), expected, atol=1e-5, rtol=1e-5)
    mixed = outputs(result.path, tokenizer)
    assert not torch.allclose(mixed, outputs(a, tokenizer), atol=1e-4)


def test_cli_reads_negative_weights_after_the_option(tiny_bert_dir, tmp_path):
    from typer.testing import CliRunner

    from kqa.cli import app

    (a, b), _ = saved_pair(tiny_bert_dir, tmp_path, "gated")
    result = CliRunner().invoke(app, ["adapters", "combine", str(a), str(b), "--weights", "1", "-1", "--out",
                                      str(tmp_path / "c"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["weights"] == [1.0, -1.0] and summary["sources"] == [str(a), str(b)]
    assert json.loads((tmp_path / "c" / "adapter_config.json").read_text())["combined_from"][1]["weight"] == -1.0


def test_mismatched_weights_and_different_starts_are_refused(tiny_bert_dir, tmp_path):
    (a, b), _ = saved_pair(tiny_bert_dir, tmp_path, "gated", seeds=(0, 1))
    with pytest.raises(InputError, match="got 1 weights for 2 adapters; give one weight per adapter"):
        AdapterCombiner().run([a, b], [1.0], tmp_path / "c")
    with pytest.raises(InputError, match=r"different initialisations \(init_seed \[0, 1\]"):
        AdapterCombiner().run([a, b], [0.5, 0.5], tmp_path / "c")
