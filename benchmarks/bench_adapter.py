"""Knowledge adapter: epoch time with vs without the activation cache, trainable parameters, examples/s, RSS,
and test accuracy on a seeded split of CSQA validation (no training split exists: train/dev/test all come from it).

    python -m benchmarks.bench_adapter --quick                     # timing only, ~1-2 min on 2 cores
    python -m benchmarks.bench_adapter --n 600 --accuracy all --graph graphs/wordnet --no-timing --cache \
        --zero-shot smollm2-135m                                   # (a)-(e) with MiniLM-L6 -> adapter_accuracy.json
    python -m benchmarks.bench_adapter --n 600 --accuracy all --graph graphs/wordnet --no-timing --cache \
        --backbone smollm2-135m --top-layers 2 [--runs de]         # (b)-(e) with SmolLM2-135M

Facts come from `--graph` (a FactRetriever over the graph and its index, retrieved once per question and kept in
runs/bench-cache/) or `--retriever MODULE:FACTORY` (a zero-argument callable returning a kqa Retriever). Without
either, the timing part uses synthetic facts (clearly not knowledge) so the knowledge stream has its real length, and
the accuracy runs that need knowledge, (c)-(e), are skipped.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import tempfile
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, write_result
from kqa.adapters.config import AdapterConfig, LoraSettings, TrainConfig
from kqa.data import load_questions
from kqa.train import Trainer, split_questions
from kqa.types import Evidence, Fact


class SyntheticRetriever:
    """Timing stand-in: five templated facts per choice (~40 tokens), no knowledge in them."""

    def run(self, question):
        def facts(text):
            return tuple(Fact(text, "RelatedTo", w, f"{text} is often related to {w} in everyday life")
                         for w in question.stem.split()[:5])

        return Evidence(question.id, tuple(facts(c.text) for c in question.choices))


def load_retriever(spec: str | None, graph: Path | None):
    """`--retriever MODULE:FACTORY` (a zero-argument callable), or the FactRetriever of `--graph`, or None."""
    if spec:
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(module), name)()
    if graph is None:
        return None
    from kqa.config import load_config
    from kqa.retrieval.retriever import FactRetriever

    settings = load_config("pipelines/zero-shot-knowledge.yaml").retrieval  # top_k 5, paths + dense, mix 0.5
    return FactRetriever.from_graph(graph, "en-core-web-sm", settings)


class PrecomputedRetriever:
    """Evidence looked up by question id. Retrieval is not what the accuracy runs measure, and (c)-(e) read the
    same facts, so it runs once per question and is kept in a pickle under runs/ (keyed by graph and N)."""

    def __init__(self, evidence: dict[str, Evidence]):
        self.evidence = evidence

    def run(self, question) -> Evidence:
        return self.evidence[question.id]

    @classmethod
    def build(cls, questions, retriever, path: Path) -> PrecomputedRetriever:
        if path.is_file():
            with path.open("rb") as handle:
                stored = pickle.load(handle)
            if all(q.id in stored for q in questions):
                return cls(stored)
        from tqdm import tqdm

        stored = {q.id: retriever.run(q) for q in tqdm(questions, desc="retrieving evidence", unit="q")}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        with partial.open("wb") as handle:
            pickle.dump(stored, handle)
        os.replace(partial, path)
        return cls(stored)


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


N_LAYERS = {"minilm-l6": 6, "smollm2-135m": 30, "gemma3-270m": 18}


def accuracy_runs(questions, args, retriever) -> dict:
    """(a) zero-shot SmolLM2, (b) LoRA without knowledge; with a retriever also (c) gated, (d) LoRA + gated and
    (e) = (d) trained and tested with control facts. All on one seeded split, tested on the same questions."""
    from kqa.retrieval.control import MatchedControlRetriever

    top = args.top_layers
    n_layers = N_LAYERS.get(args.backbone, 6)
    # LoRA only inside the adapted layers: the layers below stay frozen, so the activation cache stays exact.
    lora = LoraSettings(layers_to_transform=list(range(n_layers - top, n_layers)))
    make = lambda method: AdapterConfig(method=method, backbone=args.backbone, top_layers=top, lora=lora,
                                        facts_per_choice=args.facts)
    runs = {"b_lora_no_knowledge": (make("lora"), None)}
    if retriever is not None and args.accuracy == "all":
        control = MatchedControlRetriever(retriever, questions, seed=0)
        runs |= {"c_gated_knowledge": (make("gated"), retriever),
                 "d_lora_gated_knowledge": (make("gated+lora"), retriever),
                 "e_lora_gated_control": (make("gated+lora"), control)}
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, max_length=96, lr=args.lr,
                        checkpoint_every=10_000, activation_cache=args.cache, patience=2)
    split = split_questions(len(questions), train)
    test = [questions[i] for i in split.test]
    out = {"split": {"train": len(split.train), "dev": len(split.dev), "test": len(split.test), "seed": train.seed},
           "train_config": train.model_dump(mode="json")}
    if args.zero_shot:
        out["a_zero_shot"] = zero_shot(test, args.zero_shot)
    for name, (adapter, source) in runs.items():
        if name[0] not in args.runs:
            continue
        out[name] = train_and_test(questions, test, adapter, train, source)
        print(name, out[name], flush=True)
    if "e_lora_gated_control" in out:
        out["d_minus_e_points"] = round(100 * (out["d_lora_gated_knowledge"]["test_accuracy"]
                                              - out["e_lora_gated_control"]["test_accuracy"]), 2)
    return out


def zero_shot(test, model: str) -> dict:
    """The frozen causal LM scoring each choice by mean log-likelihood (the default pipeline), no facts."""
    from kqa.config import ModelConfig, ScorerConfig
    from kqa.pipeline import make_prediction
    from kqa.scoring import CausalLMScorer

    began = time.perf_counter()
    scorer = CausalLMScorer(ModelConfig(name=model), ScorerConfig(mode="mean"))
    scorer.warm_up()
    scores = scorer.run(test)
    correct = [make_prediction(q, s, Evidence.empty(q)).correct for q, s in zip(test, scores)]
    row = _accuracy(correct) | {"model": model, "seconds": round(time.perf_counter() - began, 1)}
    print("a_zero_shot", row, flush=True)
    return row


def train_and_test(questions, test, adapter: AdapterConfig, train: TrainConfig, source) -> dict:
    from kqa.adapters.reader import AdapterReader

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = Trainer(adapter, train, source, progress=True).run(questions, folder)
        trained = time.perf_counter() - began
        reader = AdapterReader(Path(folder) / "adapter")
        evidence = [source.run(q) for q in test] if source is not None else None
        scores = reader.run(test, evidence)
    correct = [q.labels[max(range(len(s)), key=s.__getitem__)] == q.answer for q, s in zip(test, scores)]
    return _accuracy(correct) | {
        "dev_accuracy": list(result.dev_accuracy), "best_epoch": result.best_epoch,
        "trainable_params": result.trainable_params, "train_seconds": round(trained, 1),
        "epoch_seconds": [round(x, 1) for x in result.epoch_seconds], "cache_seconds": round(result.cache_seconds, 1),
        "seconds": round(time.perf_counter() - began, 1)}


def _accuracy(correct: list[bool]) -> dict:
    from kqa.evaluation.metrics import bootstrap_ci

    accuracy, low, high = bootstrap_ci(correct)
    return {"test_accuracy": round(accuracy, 4), "ci95": [round(low, 4), round(high, 4)], "n_test": len(correct)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="150 questions (60 with smollm2), 2 epochs, timing only")
    parser.add_argument("--n", type=int, default=600, help="CSQA validation questions used (split 60/10/30)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--facts", type=int, default=5, help="facts per choice read by the adapter")
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--top-layers", type=int, default=3)
    parser.add_argument("--accuracy", choices=["none", "lora", "all"], default="none")
    parser.add_argument("--no-timing", action="store_true", help="skip the cache on/off timing part")
    parser.add_argument("--cache", action="store_true", help="accuracy runs use the activation cache (same curves)")
    parser.add_argument("--zero-shot", default=None, help="also (a): this causal LM zero-shot on the test split")
    parser.add_argument("--runs", default="bcde", help="which of the runs (b)-(e) to train, e.g. 'de'")
    parser.add_argument("--retriever", default=None, help="MODULE:FACTORY returning a Retriever")
    parser.add_argument("--graph", type=Path, default=None, help="retrieve facts from this graph (and its index)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.accuracy = (150 if args.backbone == "minilm-l6" else 60), 2, "none"
    questions = load_questions("csqa:validation", limit=args.n).questions
    retriever = load_retriever(args.retriever, args.graph)
    if retriever is not None and args.graph is not None:
        cache = Path("runs/bench-cache") / f"evidence-{args.graph.name}-{len(questions)}.pkl"
        retriever = PrecomputedRetriever.build(questions, retriever, cache)
    result: dict = {"backbone": args.backbone, "n_questions": len(questions), "epochs": args.epochs,
                    "top_layers": args.top_layers, "facts": str(args.graph or args.retriever or "synthetic"),
                    "split": "seeded 60% train / 10% dev / 30% test of CSQA validation"}
    if not args.no_timing:
        result["timing"] = timing(questions, args, retriever or SyntheticRetriever())
    if args.accuracy != "none":
        result["accuracy"] = accuracy_runs(questions, args, retriever)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    suffix = "" if args.backbone == "minilm-l6" else f"_{args.backbone}"
    if args.accuracy != "none" and args.runs != "bcde":
        suffix += f"_{args.runs}"  # a partial table does not overwrite the full one
    write_result(("adapter_accuracy" if args.no_timing else "adapter") + suffix, result)


if __name__ == "__main__":
    main()
