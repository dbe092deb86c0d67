"""ComPEFT compression: ternary top-k updates, smaller files, and compressed adapters that load like any other."""

from __future__ import annotations

import math

import pytest
import torch

from kqa.adapters.compress import AdapterCompressor, reference_state, ternarize
from kqa.adapters.model import build_model
from kqa.adapters.reader import AdapterReader
from kqa.adapters.saving import COMPRESSED, WEIGHTS, read_adapter, save_adapter
from kqa.errors import InputError
from tests.adapters.conftest import perturb
from tests.test_adapter_model import QUESTIONS, FakeRetriever, tiny_config


def test_ternarize_keeps_the_largest_updates_as_signs_with_their_mean_magnitude():
    mask, signs, scale = ternarize(torch.tensor([0.1, -3.0, 2.0, 0.5]), 0.5)
    assert mask.tolist() == [False, True, True, False] and signs.tolist() == [False, True]
    assert scale.item() == pytest.approx(2.5)


@pytest.mark.parametrize("method", ["gated+lora", "lora-fa"])
def test_compressed_adapter_is_smaller_loads_and_is_ternary(tiny_bert_dir, tmp_path, method):
    model, _ = build_model(tiny_config(tiny_bert_dir, method=method))
    perturb(model, 1)
    save_adapter(model, tmp_path / "full")
    report = AdapterCompressor(0.1).run(tmp_path / "full", tmp_path / "small")
    assert (tmp_path / "small" / COMPRESSED).is_file() and not (tmp_path / "small" / WEIGHTS).exists()
    assert report.ratio > 10 and 0 < report.relative_error < 1
    original = read_adapter(tmp_path / "full").weights
    restored = read_adapter(tmp_path / "small").weights
    reference = reference_state(model.config, 0)
    for key, ref in reference.items():
        update = (restored[key] - ref).flatten()
        changed = update[update != 0]
        assert len(changed) <= math.ceil(0.1 * ref.numel()), key
        if len(changed):  # one magnitude per tensor, signs of the original update
            assert torch.allclose(changed.abs(), changed.abs()[0].expand_as(changed), rtol=1e-4), key
            true = (original[key] - ref).flatten()[update != 0]
            assert bool((torch.sign(true) == torch.sign(changed)).all()), key
        if ".lora_A." in key and method == "lora-fa":  # frozen A: no update, restored exactly
            assert torch.equal(restored[key], original[key])
    scores = AdapterReader(tmp_path / "small").run(QUESTIONS, [FakeRetriever().run(q) for q in QUESTIONS])
    assert [len(s) for s in scores] == [3, 5] and all(math.isfinite(x) for s in scores for x in s)


def test_density_must_be_a_share():
    with pytest.raises(InputError, match=r"--density must be in \(0, 1\], got 1.5"):
        AdapterCompressor(1.5)


def test_compress_command_reports_sizes(tiny_bert_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from kqa.cli import app

    save_adapter(build_model(tiny_config(tiny_bert_dir))[0], tmp_path / "full")
    result = CliRunner().invoke(app, ["adapters", "compress", str(tmp_path / "full"), "--density", "0.2", "--out",
                                      str(tmp_path / "small"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["density"] == 0.2 and summary["bytes_after"] < summary["bytes_before"]
    assert summary["bytes_before"] == (tmp_path / "full" / WEIGHTS).stat().st_size
