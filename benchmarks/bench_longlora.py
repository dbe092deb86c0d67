"""S2-Attn vs full (sdpa) attention: forward+backward time and peak memory of a stack of SmolLM2-sized layers.

    python -m benchmarks.bench_longlora            # 2k, 4k, 8k tokens (CPU: a few minutes)
    python -m benchmarks.bench_longlora --quick    # 256, 512 tokens (seconds)
    python -m benchmarks.bench_longlora --device cuda --tokens 16384 32768   # on a GPU

Two stacks, both built from a config with random weights (hidden 576, 9 heads, 3 kv heads, head_dim 64, like
SmolLM2-135M): `attention` = LlamaAttention layers with residuals only, `decoder` = full Llama decoder layers (attention
+ MLP + norms, through LlamaModel so masks and RoPE are included). Weights are frozen and the input requires grad, as
in LoRA training: the backward pass computes activation gradients through every layer.

Each (stack, tokens, mode) runs in a fresh subprocess. Time: median of `--reps` steps after one warm-up step. Memory:
on CPU, peak RSS (ru_maxrss) minus the RSS just before the first step, so it counts activations, gradients and
allocator slack of the step itself, not the imports or weights; on CUDA, torch.cuda.max_memory_allocated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.common import peak_rss_mb, write_result

HIDDEN, HEADS, KV_HEADS, FFN = 576, 9, 3, 1536


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        try:
            row = run_setting(args.stack[0], args.tokens[0], args.mode, args.layers, args.reps, args.device)
        except torch.OutOfMemoryError:  # a finding, not a failure: full attention at 32k tokens does not fit
            row = {"stack": args.stack[0], "tokens": args.tokens[0], "mode": args.mode, "time_s": None,
                   "memory_mb": None, "out_of_memory": True}
        print(json.dumps(row))
        return
    _check_device(args.device)
    tokens = args.tokens or ([256, 512] if args.quick else [2048, 4096, 8192])
    rows = [_in_subprocess(args, stack, t, mode) for stack in args.stack for t in tokens for mode in ("full", "s2")]
    summary = _ratios(rows)
    _print_table(rows, summary)
    name = "longlora" if args.device == "cpu" and not args.quick else f"longlora-{'quick' if args.quick else args.device}"
    write_result(name, {"layers": args.layers, "reps": args.reps, "worker_threads": args.threads, "group_size_ratio": 0.25, "device": args.device,
                        "memory": "peak RSS above pre-step RSS (CPU) / max_memory_allocated (CUDA), MiB",
                        "rows": rows, "s2_over_full": summary})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (256, 512 tokens) for a smoke run")
    parser.add_argument("--tokens", type=int, nargs="*", default=None, help="sequence lengths (default 2k 4k 8k)")
    parser.add_argument("--stack", nargs="*", default=["attention", "decoder"], choices=["attention", "decoder"])
    parser.add_argument("--layers", type=int, default=2, help="layers in the stack")
    parser.add_argument("--reps", type=int, default=3, help="timed steps per setting (median reported)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads per worker (1: stable timings on a shared, oversubscribed machine)")
    parser.add_argument("--mode", choices=["full", "s2"], default="full", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def _check_device(device: str) -> None:
    import torch

    from kqa.errors import DeviceError

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"`--device {device}` needs a CUDA GPU and none is available; run without --device (CPU).")


def _in_subprocess(args, stack: str, tokens: int, mode: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_longlora", "--worker", "--stack", stack, "--tokens", str(tokens),
           "--mode", mode, "--layers", str(args.layers), "--reps", str(args.reps), "--device", args.device,
           "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{stack:9s} {tokens:6d} {mode:4s} {row['time_s']} s {row['memory_mb']} MiB", file=sys.stderr)
    return row


def run_setting(stack: str, tokens: int, mode: str, layers: int, reps: int, device: str) -> dict:
    """One fresh process: build the stack, one warm-up step, `reps` timed forward+backward steps."""
    import torch

    _check_device(device)
    torch.manual_seed(0)
    step = _build(stack, tokens, mode, layers, device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    before = _current_rss_mb()
    times = []
    for i in range(reps + 1):
        sync()
        began = time.perf_counter()
        step()
        sync()
        if i:  # the first step is a warm-up
            times.append(time.perf_counter() - began)
    memory = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else peak_rss_mb() - before
    return {"stack": stack, "tokens": tokens, "mode": mode, "time_s": round(statistics.median(times), 4),
            "times_s": [round(t, 4) for t in times], "memory_mb": round(memory, 1)}


def _build(stack: str, tokens: int, mode: str, layers: int, device: str):
    """A closure running one forward+backward step of the chosen stack."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    from kqa.adapters.longlora import LongContextConfig, enable_s2_attn

    config = LlamaConfig(vocab_size=128, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=layers,
                         num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HIDDEN // HEADS,
                         max_position_embeddings=max(tokens, 8192), attn_implementation="sdpa")
    model = LlamaModel(config).to(device).train().requires_grad_(False)
    if mode == "s2":
        enable_s2_attn(model, LongContextConfig(enabled=True, group_size_ratio=0.25))
    x = torch.randn(1, tokens, HIDDEN, device=device, requires_grad=True)
    if stack == "decoder":
        return lambda: model(inputs_embeds=x).last_hidden_state.pow(2).mean().backward()
    position_ids = torch.arange(tokens, device=device)[None]

    def attention_only():
        rope = model.rotary_emb(x, position_ids)
        h = x
        for layer in model.layers:
            h = h + layer.self_attn(h, position_embeddings=rope, attention_mask=None)[0]
        h.pow(2).mean().backward()

    return attention_only


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _ratios(rows: list[dict]) -> list[dict]:
    by_key = {(r["stack"], r["tokens"], r["mode"]): r for r in rows}
    out = []
    for (stack, tokens, mode), s2 in by_key.items():
        full = by_key.get((stack, tokens, "full"))
        if mode != "s2" or full is None:
            continue
        if None in (full["time_s"], s2["time_s"]):  # one of them ran out of memory: no ratio
            out.append({"stack": stack, "tokens": tokens, "time": None, "memory": None})
        else:
            out.append({"stack": stack, "tokens": tokens, "time": round(s2["time_s"] / full["time_s"], 3),
                        "memory": round(s2["memory_mb"] / max(full["memory_mb"], 1e-9), 3)})
    return out


def _print_table(rows: list[dict], summary: list[dict]) -> None:
    by_key = {(r["stack"], r["tokens"], r["mode"]): r for r in rows}
    print("| stack | tokens | full time s | S2 time s | time S2/full | full MiB | S2 MiB | memory S2/full |")
    print("|---|---|---|---|---|---|---|---|")
    for s in summary:
        full, s2 = by_key[(s["stack"], s["tokens"], "full")], by_key[(s["stack"], s["tokens"], "s2")]
        cells = [full["time_s"], s2["time_s"], s["time"], full["memory_mb"], s2["memory_mb"], s["memory"]]
        print(f"| {s['stack']} | {s['tokens']} | " + " | ".join("out of memory" if c is None else f"{c:g}" for c in cells)
              + " |")


if __name__ == "__main__":
    main()
