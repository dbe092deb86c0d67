"""The PEFT family on one CSQA split, in one process: test accuracy, trainable parameters, epoch time and adapter size
for every `adapter.method`; ComPEFT-compressed vs uncompressed adapters; a DEFT core-set of 50% vs the full split.

    python -m benchmarks.bench_peft                      # MiniLM-L6, 200 questions, 2 epochs (~25 min, 2 cores)
    python -m benchmarks.bench_peft --n 100 --epochs 1 --methods gated lora   # a quick look

The split is the adapter benchmark's (TrainConfig: seed 0, 60% train / 10% dev / 30% test of the first N CSQA
validation questions; there is no packaged training split). No facts are read (no graph): every method sees the same
question/choice text, so the gated adapter runs without its knowledge stream here.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.adapters.config import AdapterConfig, TrainConfig
from kqa.data import load_questions
from kqa.train import Trainer

METHODS = ["gated", "lora", "lora-fa", "lora+", "prefix", "prompt", "p-tuning", "ia3", "gated+lora", "gated+ia3"]
DEFAULT_METHODS = METHODS[:-1]  # gated+ia3 on request: the default run must fit ~25 minutes on 2 shared cores
# prompt-learning methods and (IA)^3 move few parameters from a neutral start: they are usually run at a higher lr
LEARNING_RATES = {"prefix": 1e-2, "prompt": 1e-2, "p-tuning": 1e-2, "ia3": 5e-3, "gated+ia3": 5e-3}


def adapter_config(method: str, backbone: str) -> AdapterConfig:
    if method == "lora+":
        return AdapterConfig(method="lora", backbone=backbone, loraplus_lr_ratio=16)
    return AdapterConfig(method=method, backbone=backbone)


def train_config(method: str, args, **overrides) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=8, max_length=64, lr=LEARNING_RATES.get(method, 1e-3),
                       checkpoint_every=10_000, patience=2, **overrides)


def test_accuracy(folder: Path, test) -> float:
    from kqa.adapters.reader import AdapterReader

    scores = AdapterReader(folder, batch_size=16).run(test)
    correct = sum(q.labels[max(range(len(s)), key=s.__getitem__)] == q.answer for q, s in zip(test, scores))
    return round(correct / len(test), 4)


def run_method(method: str, questions, args, work: Path, **train_overrides) -> dict:
    """Train one method, test it, and (when asked) compress it and test again."""
    from kqa.adapters.compress import AdapterCompressor
    from kqa.adapters.saving import WEIGHTS

    began = time.perf_counter()
    train = train_config(method, args, **train_overrides)
    out = work / (method + ("-coreset" if train.coreset else ""))
    result = Trainer(adapter_config(method, args.backbone), train, None, progress=False).run(questions, out)
    test = [questions[i] for i in result.split.test]
    row = {"test_accuracy": test_accuracy(result.adapter_dir, test), "n_train": result.n_train,
           "n_test": len(test), "trainable_params": result.trainable_params, "lr": train.lr,
           "epoch_seconds": [round(s, 1) for s in result.epoch_seconds],
           "adapter_bytes": (result.adapter_dir / WEIGHTS).stat().st_size,
           "dev_accuracy": list(result.dev_accuracy), "best_epoch": result.best_epoch}
    if args.density and not train.coreset:
        report = AdapterCompressor(args.density).run(result.adapter_dir, work / f"{method}-compressed")
        row["compressed"] = {"density": args.density, "adapter_bytes": report.bytes_after,
                             "ratio": round(report.ratio, 1), "relative_error": round(report.relative_error, 3),
                             "test_accuracy": test_accuracy(report.path, test)}
    row["seconds"] = round(time.perf_counter() - began, 1)
    print(method, row, flush=True)
    return row


def table(rows: dict) -> str:
    """Markdown table for the README."""
    lines = ["| method | test acc | trainable params | epoch s | adapter KB | compressed KB (acc) |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        small = r.get("compressed")
        packed = f"{small['adapter_bytes'] / 1024:.1f} ({small['test_accuracy']:.3f})" if small else "-"
        epoch = sum(r["epoch_seconds"]) / len(r["epoch_seconds"])
        lines.append(f"| {name} | {r['test_accuracy']:.3f} | {r['trainable_params']:,} | {epoch:.1f} | "
                     f"{r['adapter_bytes'] / 1024:.1f} | {packed} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200, help="first N CSQA validation questions (split 60/10/30)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=METHODS)
    parser.add_argument("--density", type=float, default=0.1, help="ComPEFT density (0: skip compression)")
    parser.add_argument("--coreset-method", default="gated", help="method trained on the 50%% core-set")
    args = parser.parse_args()
    questions = load_questions("csqa:validation", limit=args.n).questions
    rows: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        for method in args.methods:
            rows[method] = run_method(method, questions, args, Path(folder))
        coreset = {"full": rows.get(args.coreset_method) or run_method(args.coreset_method, questions, args,
                                                                      Path(folder)),
                   "coreset_50": run_method(args.coreset_method, questions, args, Path(folder), coreset=0.5)}
    result = {"backbone": args.backbone, "n_questions": len(questions), "epochs": args.epochs, "facts": "none",
              "split": "seeded 60% train / 10% dev / 30% test of CSQA validation (TrainConfig seed 0)",
              "methods": rows, "coreset": {"method": args.coreset_method, **coreset}, "table": table(rows),
              "peak_rss_mb": round(peak_rss_mb(), 1)}
    print(result["table"])
    write_result("peft", result)


if __name__ == "__main__":
    main()
