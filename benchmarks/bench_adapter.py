"""Knowledge adapter: epoch time with vs without the activation cache, trainable parameters, examples/s, RSS,
and test accuracy on a seeded split of CSQA validation (no training split exists: train/dev/test all come from it).

    python -m benchmarks.bench_adapter --quick                     # timing only, ~1-2 min on 2 cores
    python -m benchmarks.bench_adapter --n 1221 --accuracy lora    # + (b) LoRA without knowledge
    python -m benchmarks.bench_adapter --n 1221 --accuracy all --retriever my_module:make_retriever

`--retriever MODULE:FACTORY` names a zero-argument callable returning a kqa Retriever (e.g. one that opens the
graph); without it the timing part uses synthetic facts (clearly not knowledge) so the knowledge stream has its
real length, and the accuracy runs that need knowledge, (c)-(e), are skipped.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.adapters.config import AdapterConfig, LoraSettings, TrainConfig
from kqa.data import load_questions
from kqa.train import Trainer
from kqa.types import Evidence, Fact


class SyntheticRetriever:
    """Timing stand-in: five templated facts per choice (~40 tokens), no knowledge in them."""

    def run(self, question):
        def facts(text):
            return tuple(Fact(text, "RelatedTo", w, f"{text} is often related to {w} in everyday life")
                         for w in question.stem.split()[:5])

        return Evidence(question.id, tuple(facts(c.text) for c in question.choices))


def load_retriever(spec: str | None):
    if not spec:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


def timing(questions, args, retriever) -> dict:
    """Same config twice, with and without the activation cache; epoch times measured in this one process."""
    adapter = AdapterConfig(method="gated", backbone=args.backbone, top_layers=args.top_layers)
    out: dict = {}
    for cached in (False, True):
        train = TrainConfig(epochs=args.epochs, batch_size=8, max_length=96, activation_cache=cached,
                            checkpoint_every=10_000, lr=1e-3)
        with tempfile.TemporaryDirectory() as folder:
            result = Trainer(adapter, train, retriever, progress=False).run(questions, folder)
        key = "with_cache" if cached else "without_cache"
        out[key] = {"epoch_seconds": [round(s, 3) for s in result.epoch_seconds],
                    "cache_build_seconds": round(result.cache_seconds, 3),
                    "examples_per_second": round(result.examples_per_second, 2),
                    "losses_first_last": [round(result.losses[0], 5), round(result.losses[-1], 5)]}
        out["trainable_params"], out["backbone_params"] = result.trainable_params, result.backbone_params
    out["epoch_time_ratio_cache_over_plain"] = round(
        _mean(out["with_cache"]["epoch_seconds"]) / _mean(out["without_cache"]["epoch_seconds"]), 3)
    out["trainable_share_of_backbone"] = round(out["trainable_params"] / out["backbone_params"], 5)
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def accuracy_runs(questions, args, retriever) -> dict:
    """(b) LoRA without knowledge; with a retriever also (c) gated, (d) LoRA+gated, (e) (d) with control facts."""
    from kqa.retrieval.control import DerangedRetriever
    from kqa.adapters.reader import AdapterReader

    top = args.top_layers
    n_layers = {"minilm-l6": 6, "smollm2-135m": 30}.get(args.backbone, 6)
    lora = LoraSettings(layers_to_transform=list(range(n_layers - top, n_layers)))
    runs = {"b_lora_no_knowledge": (AdapterConfig(method="lora", backbone=args.backbone, top_layers=top), None)}
    if retriever is not None and args.accuracy == "all":
        control = DerangedRetriever(retriever, questions, seed=0)
        runs |= {
            "c_gated_knowledge": (AdapterConfig(method="gated", backbone=args.backbone, top_layers=top), retriever),
            "d_lora_gated_knowledge": (AdapterConfig(method="gated+lora", backbone=args.backbone, top_layers=top,
                                                     lora=lora), retriever),
            "e_lora_gated_control": (AdapterConfig(method="gated+lora", backbone=args.backbone, top_layers=top,
                                                   lora=lora), control),
        }
    train = TrainConfig(epochs=args.epochs, batch_size=8, max_length=96, lr=args.lr, checkpoint_every=10_000,
                        activation_cache=False)
    out = {}
    for name, (adapter, source) in runs.items():
        began = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            result = Trainer(adapter, train, source, progress=False).run(questions, folder)
            test = [questions[i] for i in result.split.test]
            reader = AdapterReader(Path(folder) / "adapter")
            evidence = [source.run(q) for q in test] if source is not None else None
            scores = reader.run(test, evidence)
        correct = sum(q.labels[max(range(len(s)), key=s.__getitem__)] == q.answer for q, s in zip(test, scores))
        out[name] = {"test_accuracy": round(correct / len(test), 4), "n_test": len(test),
                     "dev_accuracy": result.dev_accuracy, "best_epoch": result.best_epoch,
                     "trainable_params": result.trainable_params, "seconds": round(time.perf_counter() - began, 1)}
        print(name, out[name], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="150 questions (60 with smollm2), 2 epochs, timing only")
    parser.add_argument("--n", type=int, default=600, help="CSQA validation questions used (split 60/10/30)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--top-layers", type=int, default=3)
    parser.add_argument("--accuracy", choices=["none", "lora", "all"], default="none")
    parser.add_argument("--retriever", default=None, help="MODULE:FACTORY returning a Retriever")
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.accuracy = (150 if args.backbone == "minilm-l6" else 60), 2, "none"
    questions = load_questions("csqa:validation", limit=args.n).questions
    retriever = load_retriever(args.retriever)
    result: dict = {"backbone": args.backbone, "n_questions": len(questions), "epochs": args.epochs,
                    "top_layers": args.top_layers, "facts": "retriever" if retriever else "synthetic (timing only)",
                    "split": "seeded 60% train / 10% dev / 30% test of CSQA validation"}
    result["timing"] = timing(questions, args, retriever or SyntheticRetriever())
    if args.accuracy != "none":
        result["accuracy"] = accuracy_runs(questions, args, retriever)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_result("adapter" if args.backbone == "minilm-l6" else f"adapter_{args.backbone}", result)


if __name__ == "__main__":
    main()
