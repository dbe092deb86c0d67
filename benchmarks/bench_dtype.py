"""The default reader's backbone in float32 against bfloat16 (`adapter.dtype`), side by side on this CPU.

    python -m benchmarks.bench_dtype [--graph graphs/cn4] [--questions 64] [--rounds 4]

Both readers (MiniLM-L6 + LoRA, `pipelines/encoder-facts.yaml`, the same seed) get the same batches of the first
--questions CSQA questions with their retrieved facts. Each round times, for each dtype in turn, one pass of training
steps (forward, backward, AdamW; the LoRA weights and the head stay float32) and one of inference over those batches;
the medians over the rounds are compared. bfloat16 needs a CPU with bfloat16 arithmetic (AVX512-BF16 or AMX) to be
fast at all. Writes benchmarks/results/dtype[_T].json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from benchmarks.common import peak_rss_mb, write_result
from kqa.adapters.encoding import Batch, collate, pad_id
from kqa.adapters.model import build_model
from kqa.config import load_config
from kqa.data import load_questions
from kqa.retrieval.retriever import FactRetriever

DTYPES = ("float32", "bfloat16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="pipelines/encoder-facts.yaml")
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4"))
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tag", default=None)
    args = parser.parse_args()
    config = load_config(args.pipeline)
    retriever = FactRetriever.from_graph(args.graph, config.graph.spacy_model, config.retrieval)
    questions = load_questions("csqa:validation", limit=args.questions).questions
    evidence = [retriever.run(q) for q in questions]
    readers = {}
    for dtype in DTYPES:
        model, tokenizer = build_model(config.adapter.model_copy(update={"dtype": dtype}), seed=config.train.seed)
        encoder = model.make_encoder(tokenizer, config.train.max_length)
        items = [encoder.encode(q, e) for q, e in zip(questions, evidence)]
        size = config.train.batch_size
        batches = [collate(items[i : i + size], pad_id(tokenizer)) for i in range(0, len(items), size)]
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.train.lr)
        readers[dtype] = (model, batches, optimizer)
    times = {dtype: {"train_s": [], "infer_s": []} for dtype in DTYPES}
    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        for dtype, (model, batches, optimizer) in readers.items():
            train, infer = _train_pass(model, batches, optimizer), _infer_pass(model, batches)
            if round_:
                times[dtype]["train_s"].append(train)
                times[dtype]["infer_s"].append(infer)
    medians = {d: {k: round(statistics.median(v), 3) for k, v in t.items()} for d, t in times.items()}
    ratios = {k: round(medians["bfloat16"][k] / medians["float32"][k], 3) for k in ("train_s", "infer_s")}
    print(f"bfloat16 / float32: training {ratios['train_s']:.2f}x, inference {ratios['infer_s']:.2f}x")
    name = "dtype" + (f"_{args.tag}" if args.tag else "")
    write_result(name, {"graph": str(args.graph), "questions": len(questions), "rounds": args.rounds,
                        "cpu_has_bf16": _has_bf16(), "median_s": medians,
                        "times_s": times, "bf16_over_fp32": ratios, "peak_rss_mb": peak_rss_mb()})


def _train_pass(model, batches: list[Batch], optimizer) -> float:
    model.train()
    began = time.perf_counter()
    for batch in batches:
        loss = torch.nn.functional.cross_entropy(model(batch).float(), batch.labels)  # logits (B, C)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - began


@torch.inference_mode()
def _infer_pass(model, batches: list[Batch]) -> float:
    model.eval()
    began = time.perf_counter()
    for batch in batches:
        model(batch)
    return time.perf_counter() - began


def _has_bf16() -> bool:
    """Whether this CPU names bfloat16 arithmetic among its flags (Linux)."""
    flags = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").is_file() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


if __name__ == "__main__":
    main()
