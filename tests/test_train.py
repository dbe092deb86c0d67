"""Training: seeded split, exact resume, activation cache, --from with a frozen backbone, CLI."""

from __future__ import annotations

import hashlib
import json
import random
from itertools import pairwise
from types import SimpleNamespace

import pytest
import torch

from kqa.adapters import model as model_module
from kqa.adapters.config import AdapterConfig, LoraSettings, TrainConfig
from kqa.adapters.model import build_model
from kqa.adapters.saving import read_adapter
from kqa.config import load_config
from kqa.errors import ConfigError, ModelUnavailableError, StoreError
from kqa.train import Trainer, split_questions
from kqa.trainloop import GROUP_BATCHES, TrainLoop, grouped_by_length
from tests.test_adapter_model import FakeRetriever, batch_for, make_question, save_tiny_bert, tiny_config

WORDS = ["fish", "paper", "stone", "river", "bread", "cloud", "chair", "lamp", "snow", "apple", "horse", "glass"]
QUESTIONS = [make_question(f"Which thing goes with {WORDS[i % 12]} number {i}?",
                           [WORDS[(i + 1) % 12], WORDS[(i + 5) % 12], WORDS[(i + 7) % 12]] + (["sand"] if i % 3 else []),
                           f"t{i}", "ABC"[i % 3]) for i in range(20)]


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory, minilm_tokenizer):
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert-train"), minilm_tokenizer)


def train_config(**overrides) -> TrainConfig:
    values = {"seed": 1, "train_fraction": 0.6, "dev_fraction": 0.2, "epochs": 2, "batch_size": 4, "lr": 5e-3,
              "patience": 5, "checkpoint_every": 2, "max_length": 48}
    return TrainConfig(**(values | overrides))


def run(adapter, train, out, **kwargs):
    return Trainer(adapter, train, FakeRetriever(), progress=False).run(QUESTIONS, out, **kwargs)


def test_split_is_seeded_disjoint_and_saved(tiny_bert_dir, tmp_path):
    split = split_questions(20, train_config())
    assert split == split_questions(20, train_config())
    assert split != split_questions(20, train_config(seed=7))  # the seed draws the split...
    assert split == split_questions(20, train_config(seed=7, split_seed=1))  # ...unless split_seed does
    assert (len(split.train), len(split.dev), len(split.test)) == (12, 4, 4)
    assert len(set(split.train) | set(split.dev) | set(split.test)) == 20
    run(tiny_config(tiny_bert_dir), train_config(epochs=1), tmp_path)
    saved = json.loads((tmp_path / "split.json").read_text())
    assert saved["test"] == [QUESTIONS[i].id for i in split.test]


def test_split_rounds_once_so_the_test_part_keeps_its_share():
    split = split_questions(10, train_config(train_fraction=0.55, dev_fraction=0.35))
    assert (len(split.train), len(split.dev), len(split.test)) == (6, 3, 1)  # rounded apart: 6 / 4 / 0
    assert len(split_questions(1221, train_config(train_fraction=0.6, dev_fraction=0.1)).test) == 366


def test_a_fresh_run_into_an_earlier_runs_folder_drops_its_checkpoints_and_best_weights(tiny_bert_dir, tmp_path):
    adapter, fresh = tiny_config(tiny_bert_dir, method="lora"), train_config(epochs=1, dev_fraction=0.0)
    run(adapter, train_config(epochs=3), tmp_path / "reused")  # a dev part: best.safetensors, checkpoints 6 and 8
    assert (tmp_path / "reused" / "best.safetensors").is_file()
    run(adapter, fresh, tmp_path / "reused")  # no dev part: 3 steps, a checkpoint at step 2, no best weights
    run(adapter, fresh, tmp_path / "clean")
    assert not (tmp_path / "reused" / "best.safetensors").exists()
    assert [p.name for p in (tmp_path / "reused" / "checkpoints").glob("step-*")] == ["step-00000002"]
    assert (tmp_path / "reused" / "checkpoints" / "latest").read_text() == "step-00000002"
    reused, clean = (read_adapter(tmp_path / name / "adapter").weights for name in ("reused", "clean"))
    assert all(torch.equal(reused[k], clean[k]) for k in clean)  # not the earlier run's best weights


def test_resume_refuses_a_checkpoint_with_missing_files(tiny_bert_dir, tmp_path):
    adapter = tiny_config(tiny_bert_dir, method="lora")
    run(adapter, train_config(max_steps=2), tmp_path)
    (tmp_path / "checkpoints" / "step-00000002" / "optimizer.pt").unlink()
    with pytest.raises(StoreError, match=r"step-00000002 \(named by .*latest\) lacks optimizer.pt. Run without --resume"):
        run(adapter, train_config(), tmp_path, resume=True)


def test_resume_after_a_crash_continues_the_same_loss_curve(tiny_bert_dir, tmp_path):
    adapter = tiny_config(tiny_bert_dir, method="gated+lora", dropout=0.1)  # dropout: RNG state must be restored
    straight = run(adapter, train_config(), tmp_path / "straight")
    assert straight.steps == 6 and len(straight.dev_accuracy) == 2
    crashed = run(adapter, train_config(max_steps=5), tmp_path / "resumed")  # last checkpoint: step 4
    assert crashed.steps == 5
    resumed = run(adapter, train_config(), tmp_path / "resumed", resume=True)
    assert resumed.resumed_from_step == 4
    assert resumed.losses == pytest.approx(straight.losses, abs=1e-6)
    assert resumed.dev_accuracy == straight.dev_accuracy


def test_grouped_by_length_sorts_each_group_of_batches_and_pads_less():
    rng = random.Random(0)
    lengths = [rng.randrange(10, 120) for _ in range(230)]
    order = rng.sample(range(230), 230)
    grouped = grouped_by_length(order, lengths, batch_size=4)
    group = GROUP_BATCHES * 4
    assert sorted(grouped) == list(range(230))  # every question once
    position = {index: k for k, index in enumerate(order)}
    for start in range(0, 230, group):  # the same questions in each group, longest first, ties in shuffled order
        block = grouped[start : start + group]
        assert set(block) == set(order[start : start + group])
        assert all(lengths[a] >= lengths[b] for a, b in pairwise(block))
        assert all(position[a] < position[b] for a, b in pairwise(block) if lengths[a] == lengths[b])

    def padded(o):
        return sum(len(o[i : i + 4]) * max(lengths[j] for j in o[i : i + 4]) for i in range(0, len(o), 4))

    assert padded(grouped) < 0.85 * padded(order)


def test_group_by_length_gives_each_epoch_its_own_sorted_batches():
    items = [SimpleNamespace(pairs=((0,) * (5 + (7 * i) % 60), (0,) * 3)) for i in range(100)]
    longest = [max(map(len, item.pairs)) for item in items]

    def batches(grouped: bool, epoch: int) -> list[list[int]]:
        loop = TrainLoop(None, None, None, None, None, train_config(batch_size=4, group_by_length=grouped), 0, None,
                         len(items), None)
        return loop._batches(epoch, items)

    first = batches(True, 0)
    assert sorted(i for b in first for i in b) == list(range(100)) and first == batches(True, 0)  # seeded
    assert first != batches(True, 1) and first != batches(False, 0)
    for start in range(0, len(first), GROUP_BATCHES):  # within a group, each batch no longer than the one before
        heads = [max(longest[i] for i in b) for b in first[start : start + GROUP_BATCHES]]
        assert heads == sorted(heads, reverse=True)
    plain = batches(False, 0)
    assert {frozenset(b) for b in plain} != {frozenset(b) for b in first}
    assert sum(len(b) * max(longest[i] for i in b) for b in first) < sum(len(b) * max(longest[i] for i in b)
                                                                          for b in plain)


def test_resume_without_a_checkpoint_says_so(tiny_bert_dir, tmp_path):
    with pytest.raises(StoreError, match="--resume: no checkpoint in"):
        run(tiny_config(tiny_bert_dir), train_config(), tmp_path, resume=True)


@pytest.mark.parametrize("backbone", ["bert", "llama"])
def test_activation_cache_gives_the_same_loss_curve(backbone, tiny_bert_dir, tiny_llama_dir, tmp_path, monkeypatch):
    folder = tiny_bert_dir if backbone == "bert" else tiny_llama_dir
    adapter = tiny_config(folder, method="gated+lora", lora=LoraSettings(layers_to_transform=[1]), layers=[1],
                          dropout=0.1)
    # whole batches: read in runs (kqa.adapters.model), the curves part by up to 1.6e-3 after 6 steps (llama) with
    # the same gradients at each step to 3e-8 (measured): AdamW divides each gradient by its running scale, so one
    # that is ~0 in exact arithmetic (some of the scoring head's biases) steps by its float noise. Runs with a
    # cached prefix give the one-pass logits: test_runs_of_similar_length_give_the_logits_of_one_pass
    monkeypatch.setattr(model_module, "RUN_ROWS", 10**6)
    plain = run(adapter, train_config(), tmp_path / "plain")
    cached = run(adapter, train_config(activation_cache=True, cache_memory_mb=0), tmp_path / "cached")
    assert (tmp_path / "cached" / "cache" / "activation_cache.f32").is_file()  # memory-mapped (over 0 MB)
    assert cached.losses == pytest.approx(plain.losses, abs=1e-5)
    assert cached.cache_seconds > 0


@pytest.mark.parametrize("backbone", ["bert", "llama"])
def test_gradient_checkpointing_recomputes_each_layer_and_gives_the_same_gradients(backbone, tiny_bert_dir,
                                                                                   tiny_llama_dir):
    folder = tiny_bert_dir if backbone == "bert" else tiny_llama_dir
    adapter = tiny_config(folder, method="lora", lora=LoraSettings(dropout=0.2))  # dropout inside the layers
    grads, calls = [], []
    for checkpointing in (False, True):
        model, tokenizer = build_model(adapter, seed=3)
        if checkpointing:
            model.recompute_layers()
        model.train()
        assert model.backbone.training is False  # the frozen layers' dropout stays off either way
        count = []
        inner = next(m for m in model.layers[0].children())  # a submodule: its hooks fire in the recomputation too
        inner.register_forward_hook(lambda *_, seen=count: seen.append(1))
        batch = batch_for(model, tokenizer)
        torch.manual_seed(0)
        loss = torch.nn.functional.cross_entropy(model(batch), torch.tensor([0, 1]))
        loss.backward()
        calls.append(len(count))
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad})
    assert calls[1] == 2 * calls[0]  # each layer ran again in the backward pass
    assert grads[0].keys() == grads[1].keys()
    for key in grads[0]:
        torch.testing.assert_close(grads[1][key], grads[0][key], atol=1e-6, rtol=1e-5)


def test_gradient_checkpointing_refuses_the_gated_stream(tiny_bert_dir):
    model, _ = build_model(tiny_config(tiny_bert_dir, method="gated+lora"))
    with pytest.raises(ConfigError, match=r"`train.gradient_checkpointing` cannot be used with `adapter.method` "
                                          r"'gated\+lora'.*set `train.gradient_checkpointing: false`"):
        model.recompute_layers()


def test_gradient_checkpointing_trains_through_the_trainer(tiny_bert_dir, tmp_path):
    adapter = tiny_config(tiny_bert_dir, method="lora")
    plain = run(adapter, train_config(epochs=1), tmp_path / "plain")
    recomputed = run(adapter, train_config(epochs=1, gradient_checkpointing=True), tmp_path / "recomputed")
    assert recomputed.losses == pytest.approx(plain.losses, abs=1e-5)


def test_activation_cache_refuses_lora_below_the_first_adapted_layer(tiny_bert_dir, tmp_path):
    adapter = tiny_config(tiny_bert_dir, method="gated+lora", layers=[2])
    with pytest.raises(ConfigError, match=r"`train.activation_cache` needs every LoRA layer at or above .* got None"):
        run(adapter, train_config(activation_cache=True), tmp_path)


def test_early_stopping_after_patience_epochs(tiny_bert_dir, tmp_path):
    result = run(tiny_config(tiny_bert_dir), train_config(epochs=6, patience=1, lr=1e-12), tmp_path)
    assert len(result.dev_accuracy) == 2 and result.best_epoch == 0


def _sha(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_knowledge_update_retrains_only_the_adapter(tiny_bert_dir, tmp_path):
    adapter = tiny_config(tiny_bert_dir, method="gated+lora")
    files_before = _sha(tiny_bert_dir)
    first = run(adapter, train_config(epochs=1), tmp_path / "first")
    model, _ = build_model(adapter)
    reference = {k: v.clone() for k, v in model.backbone.named_parameters() if ".lora_" not in k}
    from kqa.train import _init_from, make_optimizer  # the same path `--from` takes, on a model we can inspect

    _init_from(model, first.adapter_dir)
    optimizer = make_optimizer(model, model.backbone, adapter, train_config())
    from tests.test_adapter_model import batch_for

    model.train()
    for _ in range(2):
        torch.nn.functional.cross_entropy(model(batch_for(model, model_tokenizer(tiny_bert_dir))),
                                          torch.tensor([0, 1])).backward()
        optimizer.step()
        optimizer.zero_grad()
    after = dict(model.backbone.named_parameters())
    assert all(torch.equal(after[k], v) for k, v in reference.items())
    second = run(adapter, train_config(epochs=1), tmp_path / "second", init_from=first.adapter_dir)
    assert second.losses[0] != pytest.approx(first.losses[0], abs=1e-9)  # it started from the trained weights
    assert _sha(tiny_bert_dir) == files_before


def model_tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_report_to_a_missing_tracker_names_the_pip_line(tiny_bert_dir, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    with pytest.raises(ModelUnavailableError, match="includes 'tensorboard' but it is not installed. Fix: pip"):
        run(tiny_config(tiny_bert_dir), train_config(report_to=["tensorboard"]), tmp_path)


def test_train_config_errors_name_the_field():
    with pytest.raises(ValueError, match=r"`train_fraction` \+ `dev_fraction` must be <= 1, got 0.9 \+ 0.2"):
        TrainConfig(train_fraction=0.9, dev_fraction=0.2)
    with pytest.raises(ValueError, match="report_to"):
        TrainConfig(report_to=["wandb"])


def write_questions(path, questions):
    """CSQA-style JSONL (flattened choices) of `questions`."""
    path.write_text("\n".join(json.dumps({"id": q.id, "question": q.stem, "answerKey": q.answer, "choices": {
        "label": list(q.labels), "text": [c.text for c in q.choices]}}) for q in questions) + "\n")
    return path


def tiny_pipeline(path, backbone):
    """A pipeline YAML training a small gated adapter on the tiny BERT."""
    path.write_text(f"name: t\nadapter:\n  backbone: {backbone}\n  top_layers: 1\n  width: 16\n  heads: 4\n"
                    "train:\n  batch_size: 4\n  max_length: 48\n")
    return path


def test_train_command_end_to_end(tiny_bert_dir, tmp_path):
    import typer
    from typer.testing import CliRunner

    from kqa.adapters.cli import train_command
    from kqa.adapters.reader import AdapterReader

    data = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    pipeline = tiny_pipeline(tmp_path / "p.yaml", tiny_bert_dir)
    app = typer.Typer()
    app.command()(train_command)
    result = CliRunner().invoke(app, ["--pipeline", str(pipeline), "--data", str(data), "--out", str(tmp_path / "o"),
                                      "--epochs", "1", "--limit", "10", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2 and summary["trainable_params"] > 0
    scores = AdapterReader(tmp_path / "o" / "adapter").run(QUESTIONS[:2])
    assert [len(s) for s in scores] == [3, 4]
    # a pipeline whose `reader.adapter` names the folder answers with it, as pipelines/default.yaml does
    from kqa.pipeline import KQAPipeline

    qa = KQAPipeline.from_config({"reader": {"adapter": str(tmp_path / "o" / "adapter")}})
    assert isinstance(qa.reader, AdapterReader)
    flag = KQAPipeline.from_config(None, adapter=tmp_path / "o" / "adapter")  # --adapter: the config says so too
    assert flag.config.reader.adapter == str(tmp_path / "o" / "adapter")
    answered = qa.answer_batch(QUESTIONS[:2], progress=False)[0]
    assert [c.score for c in answered.choices] == pytest.approx(list(scores[0]))


def test_extra_training_sets_join_the_train_part_only(tiny_bert_dir, tmp_path):
    """`--data MAIN --data EXTRA@W`: MAIN's split is unchanged; EXTRA's questions (W times over) only add steps."""
    import typer
    from typer.testing import CliRunner

    from kqa.adapters.cli import train_command

    main = write_questions(tmp_path / "main.jsonl", QUESTIONS[:10])
    extra = write_questions(tmp_path / "extra.jsonl", QUESTIONS[10:18])
    pipeline = tiny_pipeline(tmp_path / "p.yaml", tiny_bert_dir)
    app = typer.Typer()
    app.command()(train_command)

    def train(*data: str, out: str) -> dict:
        args = ["--pipeline", str(pipeline), "--out", str(tmp_path / out), "--epochs", "1", "--json"]
        result = CliRunner().invoke(app, args + [arg for d in data for arg in ("--data", d)])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.strip().splitlines()[-1])

    alone, mixed = train(str(main), out="alone"), train(str(main), f"{extra}@1.5", out="mixed")
    assert (alone["n_train"], alone["steps"]) == (6, 2)
    assert (mixed["n_train"], mixed["steps"]) == (6 + 12, 5)  # 8 extra questions x 1.5
    split = json.loads((tmp_path / "mixed" / "split.json").read_text())
    assert split == json.loads((tmp_path / "alone" / "split.json").read_text())
    result = CliRunner().invoke(app, ["--pipeline", str(pipeline), "--data", str(main), "--data", f"{extra}@-1",
                                      "--out", str(tmp_path / "bad")])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == "--data: `extra_data.0.weight`: Input should be greater than 0 (got -1.0)"


def test_bad_train_section_names_the_key(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("adapter:\n  method: gated\ntrain:\n  epochz: 2\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: `train\.epochz`: unknown key"):
        load_config(pipeline)


def test_packaged_adapter_pipelines_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "pipelines"
    for name in ("encoder-kpe.yaml", "decoder-lora.yaml", "gpu-qlora.yaml"):
        config = load_config(root / name)
        assert isinstance(config.adapter, AdapterConfig) and isinstance(config.train, TrainConfig)


DDP_SCRIPT = """
import json, sys
import torch.distributed as dist
from kqa.train import Trainer
from tests.test_train import QUESTIONS, train_config
from tests.test_adapter_model import FakeRetriever, tiny_config
result = Trainer(tiny_config(sys.argv[1], method="gated+lora"), train_config(epochs=1), FakeRetriever(),
                 progress=False).run(QUESTIONS, sys.argv[2])
print(json.dumps({"rank": dist.get_rank(), "world": dist.get_world_size(), "losses": result.losses}))
"""


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU (gloo) smoke test; GPU machines use NCCL")
def test_two_process_cpu_ddp_smoke(tiny_bert_dir, tmp_path):
    """`accelerate launch` with 2 CPU processes trains without code changes; both ranks log the same losses."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    env = os.environ | {"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    # accelerate's launcher starts 2 processes only in its multi-process mode; the trainer's Accelerator(cpu=True)
    # then picks gloo (MULTI_CPU) on a machine without CUDA
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script),
               str(tiny_bert_dir), str(tmp_path / "out")]
    done = subprocess.run(command, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted(log["rank"] for log in logs) == [0, 1] and all(log["world"] == 2 for log in logs)
    assert logs[0]["losses"] == pytest.approx(logs[1]["losses"]) and len(logs[0]["losses"]) == 3
    assert (tmp_path / "out" / "adapter" / "adapter.safetensors").is_file()
