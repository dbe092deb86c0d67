"""QLoRA (NF4 backbone) against LoRA on a bf16 backbone: GPU memory of the model, peak memory and time of a step.

    python -m benchmarks.bench_qlora                       # needs CUDA: SmolLM2-135M and SmolLM2-1.7B shapes
    python -m benchmarks.bench_qlora --shapes 135m --reps 5

Backbones are Llamas of SmolLM2's shapes with random weights (memory and time do not depend on the values; nothing is
downloaded), saved once in bf16 to a temporary folder and loaded through kqa's own path (`build_model`; with
`adapter.quantization: nf4` that is NF4 with double quantization and bf16 compute, as pipelines/gpu-qlora.yaml).
Every mode trains the same LoRA (r 16 on every projection) and scoring head; `qlora-nf4-checkpointing` also
recomputes each layer in the backward pass (`train.gradient_checkpointing`). One step = forward + backward + AdamW
step on 8 questions x 5 choices x 128 tokens. Each (shape, mode) runs in a fresh subprocess; `model_mb` is
torch.cuda.memory_allocated after loading, `peak_mb` the max_memory_allocated over the steps, `time_s` the median of
`--reps` steps after one warm-up. Writes benchmarks/results/qlora.json. On a machine without CUDA it stops with a
DeviceError (`make bench` skips it there).
"""

from __future__ import annotations

import argparse
import json
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_result

SHAPES = {  # LlamaConfig fields of SmolLM2-135M and SmolLM2-1.7B; "tiny" is for a smoke run
    "135m": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
             "num_key_value_heads": 3, "vocab_size": 49152},
    "1.7b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24, "num_attention_heads": 32,
             "num_key_value_heads": 32, "vocab_size": 49152},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 512},
}
MODES = {  # mode -> (adapter.quantization, train.gradient_checkpointing)
    "lora-bf16": (None, False), "qlora-nf4": ("nf4", False), "qlora-nf4-checkpointing": ("nf4", True),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
QUESTIONS, CHOICES, TOKENS = 8, 5, 128


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.worker:
        print(json.dumps(run_setting(Path(args.worker), args.mode, args.reps, args.device)))
        return
    _check_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kqa-qlora-") as tmp:
        for shape in args.shapes:
            folder = save_backbone(Path(tmp) / shape, SHAPES[shape], args.device)
            rows += [{"shape": shape, **_in_subprocess(folder, mode, args)} for mode in args.modes]
    summary = {shape: _ratio(rows, shape) for shape in args.shapes}
    print(json.dumps(summary, indent=2), file=sys.stderr)
    write_result(args.name, {"device": args.device, "reps": args.reps, "batch": [QUESTIONS, CHOICES, TOKENS],
                             "lora": {"r": 16, "alpha": 32, "target_modules": TARGETS}, "rows": rows,
                             "qlora_over_lora": summary})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=["135m", "1.7b"], choices=sorted(SHAPES))
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument("--reps", type=int, default=3, help="timed steps per setting (median reported)")
    parser.add_argument("--device", default="cuda", help="cuda (QLoRA needs it); cpu runs lora-bf16 only")
    parser.add_argument("--name", default="qlora", help="results file name (benchmarks/results/NAME.json)")
    parser.add_argument("--mode", choices=list(MODES), default="lora-bf16", help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def _check_device(device: str) -> None:
    import torch

    from kqa.errors import DeviceError

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"`--device {device}` needs a CUDA GPU and none is available: QLoRA (NF4) runs on CUDA "
                          f"only. On CPU: --device cpu --modes lora-bf16.")


def save_backbone(folder: Path, shape: dict, device: str) -> Path:
    """A random-weight Llama of `shape` in bf16 and a character-level WordPiece tokenizer, as a local model folder."""
    import torch
    from transformers import BertTokenizer, LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True)
    pieces = list(string.ascii_lowercase + string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.punctuation, *pieces, *("##" + p for p in pieces)]
    BertTokenizer(vocab={token: i for i, token in enumerate(dict.fromkeys(vocab))}).save_pretrained(folder)
    torch.manual_seed(0)
    with torch.device(device):  # initialising 1.7B parameters on the GPU takes seconds, on the CPU minutes
        model = LlamaForCausalLM(LlamaConfig(**shape, max_position_embeddings=2048, tie_word_embeddings=True))
    model.to(torch.bfloat16).save_pretrained(folder)
    return folder


def _in_subprocess(folder: Path, mode: str, args) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_qlora", "--worker", str(folder), "--mode", mode,
           "--reps", str(args.reps), "--device", args.device]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{mode} on {folder.name} failed:\n{done.stderr[-4000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{folder.name:5s} {mode:10s} model {row['model_mb']} MiB  peak {row['peak_mb']} MiB  step {row['time_s']} s",
          file=sys.stderr)
    return row


def run_setting(folder: Path, mode: str, reps: int, device: str) -> dict:
    """One fresh process: load the backbone through kqa, one warm-up step, `reps` timed training steps."""
    import torch

    from kqa.adapters.config import AdapterConfig, LoraSettings

    cuda = device.startswith("cuda")
    quantization, checkpointing = MODES[mode]
    adapter = AdapterConfig(backbone=str(folder), method="lora", knowledge="text", dtype="bfloat16",
                            quantization=quantization, lora=LoraSettings(r=16, alpha=32, target_modules=TARGETS))
    model, batch = _model_and_batch(adapter, device, checkpointing)
    model_mb = round(torch.cuda.memory_allocated() / 2**20, 1) if cuda else None
    labels = torch.zeros(QUESTIONS, dtype=torch.long, device=device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(reps + 1):
        sync()
        began = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(batch).float(), labels)  # (B, C) logits
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sync()
        if i:  # the first step is a warm-up
            times.append(time.perf_counter() - began)
    return {"mode": mode, "quantization": quantization, "gradient_checkpointing": checkpointing,
            "trainable": model.trainable_parameters(),
            "backbone_parameters": model.backbone_parameters(), "model_mb": model_mb,
            "peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
            "time_s": round(statistics.median(times), 4), "times_s": [round(t, 4) for t in times]}


def _model_and_batch(adapter, device: str, checkpointing: bool):
    """kqa's model over the saved backbone (layers recomputed in the backward pass with `checkpointing`, as
    `train.gradient_checkpointing` does), and one batch of QUESTIONS x CHOICES sequences cut at TOKENS."""
    from kqa.adapters.encoding import collate, pad_id
    from kqa.adapters.model import build_model
    from kqa.data import question_from_text

    model, tokenizer = build_model(adapter)
    if checkpointing:
        model.recompute_layers()
    model.to(device).train()
    stem = " ".join(["which of these things would you most likely find in a kitchen drawer"] * 4)
    questions = [question_from_text(f"{stem} {i}?", [f"choice {i} {c}" for c in "abcde"], f"q{i}")
                 for i in range(QUESTIONS)]
    encoder = model.make_encoder(tokenizer, TOKENS)
    return model, collate([encoder.encode(q, None) for q in questions], pad_id(tokenizer)).to(device)


def _ratio(rows: list[dict], shape: str) -> dict:
    """Each QLoRA mode over LoRA on the bf16 backbone (model memory, peak memory, step time)."""
    by_mode = {r["mode"]: r for r in rows if r["shape"] == shape}
    lora = by_mode.get("lora-bf16")
    if lora is None or lora["peak_mb"] is None:
        return {}
    return {mode: {key: round(row[key] / lora[key], 3) for key in ("model_mb", "peak_mb", "time_s")}
            for mode, row in by_mode.items() if mode != "lora-bf16"}


if __name__ == "__main__":
    main()
