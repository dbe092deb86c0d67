"""Which embedder indexes ConceptNet in minutes without losing MiniLM's neighbours (issue #19, item 2)?

    python -m benchmarks.bench_embedders graphs/cn4 [--sample 20000] [--queries 1000]

Side by side in one run, over one seeded sample of the graph's verbalized facts:
- `minilm`           the index's embedder: sentence-transformers MiniLM-L6, length-sorted batches of 256;
- `minilm-onnx-fp32` the same model exported to ONNX, run by onnxruntime with its float32 weights;
- `minilm-onnx-int8` the same ONNX model quantized to int8 weights (onnxruntime dynamic quantization);
- `minilm-onnx-int8-pc` the same, with one scale per output channel (`per_channel=True`);
- `minilm-onnx-int8-matmul` per channel, and only the matrix products: the embedding tables stay float32;
- `minilm-onnx-int8-keep-ffn-out` per channel, each layer's FFN output projection left in float32: kqa's
                     `index.embedder: minilm-l6-int8`;
- `model2vec`        a static embedder distilled offline from the packaged MiniLM with model2vec (no transformer at
                     encode time: a token-vector lookup and a mean).
For each: facts/s, minutes projected for the whole graph, and recall@10 of the MiniLM neighbours (the top 10 facts by
the full model) on CSQA question queries. The optional packages (`onnxruntime onnx`, `model2vec[distill]`) are not
kqa dependencies; an option whose package is missing is reported as skipped, with the reason.
Writes benchmarks/results/embedders.json; the artefacts (ONNX file, distilled model) are cached under $KQA_CACHE.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from benchmarks.common import peak_rss_mb, write_result
from kqa.data import load_questions
from kqa.graph.store import GraphStore
from kqa.models import cache_dir, resolve_model
from kqa.retrieval.facts import retrievable
from kqa.retrieval.index import Embedder
from kqa.retrieval.onnx_embed import export_onnx

BATCH = 256
K = 10
ARTEFACTS = {"minilm-onnx-fp32": "onnx/minilm-l6.onnx", "minilm-onnx-int8": "onnx/minilm-l6-int8.onnx",
             "minilm-onnx-int8-pc": "onnx/minilm-l6-int8-per-channel.onnx",
             "minilm-onnx-int8-matmul": "onnx/minilm-l6-int8-matmul.onnx",
             "minilm-onnx-int8-keep-ffn-out": "onnx/minilm-l6-int8",  # kqa's own, kqa.retrieval.onnx_embed
             "model2vec": "model2vec/minilm-l6"}  # under $KQA_CACHE


class OnnxInt8:
    """MiniLM through onnxruntime with int8 weights; mean pooling + L2 norm as sentence-transformers does."""

    def __init__(self, folder: str):
        import onnxruntime
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the threads torch gives MiniLM: a fair race
        self.session = onnxruntime.InferenceSession(str(self._model_file(folder)), options,
                                                    providers=["CPUExecutionProvider"])

    def _model_file(self, folder: str) -> Path:
        return _quantized(folder)

    def encode(self, texts: list[str]) -> np.ndarray:
        order = np.argsort([len(t) for t in texts])  # length-sorted batches pad little
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            rows = order[start:start + BATCH]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=128,
                                   return_tensors="np")
            feeds = {k: batch[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = self.session.run(None, feeds)[0]  # (B, T, 384)
            mask = feeds["attention_mask"][..., None].astype(np.float32)  # (B, T, 1)
            out[rows] = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1.0)
        return _normalized(out)


class OnnxFp32(OnnxInt8):
    """The exported ONNX model before quantization: what onnxruntime alone gains over PyTorch."""

    def _model_file(self, folder: str) -> Path:
        _quantized(folder)  # exports the float32 model on the way
        return cache_dir() / ARTEFACTS["minilm-onnx-fp32"]


class OnnxInt8PerChannel(OnnxInt8):
    """int8 weights with one scale per output channel instead of one per tensor: does it keep the neighbours?"""

    name, options = "minilm-onnx-int8-pc", {"per_channel": True}

    def _model_file(self, folder: str) -> Path:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        _quantized(folder)  # the float32 export
        target = cache_dir() / ARTEFACTS[self.name]
        if not target.is_file():
            quantize_dynamic(str(cache_dir() / ARTEFACTS["minilm-onnx-fp32"]), str(target),
                             weight_type=QuantType.QInt8, **self.options)
        return target


class OnnxInt8MatMul(OnnxInt8PerChannel):
    """Per-channel int8 for the matrix products only: the embedding tables (Gather) stay float32."""

    name, options = "minilm-onnx-int8-matmul", {"per_channel": True, "op_types_to_quantize": ["MatMul"]}


class OnnxInt8KeepFfnOut:
    """Per-channel int8, except each layer's FFN output projection (float32): kqa's own `index.embedder:
    minilm-l6-int8` (kqa.retrieval.onnx_embed), measured exactly as an index build runs it."""

    def __init__(self, folder: str):
        self.embedder = Embedder("minilm-l6-int8", BATCH)
        self.embedder.warm_up()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts)


class Model2Vec:
    """A static embedder distilled once from the packaged MiniLM (PCA to 256 dims, model2vec's default)."""

    def __init__(self, folder: str):
        from model2vec import StaticModel

        target = cache_dir() / ARTEFACTS["model2vec"]
        if not (target / "config.json").is_file():
            from model2vec.distill import distill

            distill(model_name=folder, pca_dims=256).save_pretrained(str(target))
        self.model = StaticModel.from_pretrained(str(target))

    def encode(self, texts: list[str]) -> np.ndarray:
        return _normalized(np.asarray(self.model.encode(texts, batch_size=1024), dtype=np.float32))


class MiniLM:
    def __init__(self, folder: str):
        self.embedder = Embedder("minilm-l6", BATCH)
        self.embedder.warm_up()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts)


OPTIONS = {"minilm": MiniLM, "minilm-onnx-fp32": OnnxFp32, "minilm-onnx-int8": OnnxInt8,
           "minilm-onnx-int8-pc": OnnxInt8PerChannel, "minilm-onnx-int8-matmul": OnnxInt8MatMul,
           "minilm-onnx-int8-keep-ffn-out": OnnxInt8KeepFfnOut, "model2vec": Model2Vec}


def _quantized(folder: str) -> Path:
    """Export MiniLM to ONNX (TorchScript exporter: the dynamo one needs onnxscript) and quantize it, once; the
    float32 export stays beside the int8 one."""
    target, plain = cache_dir() / ARTEFACTS["minilm-onnx-int8"], cache_dir() / ARTEFACTS["minilm-onnx-fp32"]
    if target.is_file() and plain.is_file():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(folder, plain)  # kqa's export (eager attention, padded dummy batch)
    quantize_dynamic(str(plain), str(target), weight_type=QuantType.QInt8)
    return target


def _normalized(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12), dtype=np.float32)


def _top(facts: np.ndarray, queries: np.ndarray) -> np.ndarray:
    index = faiss.IndexFlatIP(facts.shape[1])
    index.add(facts)
    return index.search(queries, K)[1]  # (Q, K) fact rows


def _recall(found: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(r)) / K for f, r in zip(found, reference)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", type=Path, nargs="?", default=Path("graphs/cn4"))
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS))
    args = parser.parse_args()
    if not args.graph.is_dir():
        raise SystemExit(f"no graph at {args.graph}: kqa graph import conceptnet4 --graph {args.graph}")
    with GraphStore.open(args.graph) as store:
        _, texts = retrievable(store.edges())
    distinct = sorted(set(texts))  # equal texts would tie in the top 10 and count as misses
    sample = random.Random(0).sample(distinct, min(args.sample, len(distinct)))
    queries = [q.stem for q in load_questions("csqa:validation", limit=args.queries).questions]
    folder = resolve_model("minilm-l6")
    reference = None
    rows = {}
    for name in ["minilm", *(o for o in args.options if o != "minilm")]:
        rows[name], found = _measure(name, folder, sample, queries, len(texts))
        if found is None:
            continue
        reference = found if name == "minilm" else reference
        rows[name]["recall_at_10"] = round(_recall(found, reference), 4)
        print(name, rows[name])
    write_result("embedders", {"graph": str(args.graph), "facts": len(texts), "sample": len(sample),
                               "queries": len(queries), "k": K, "options": rows,
                               "peak_rss_mb_all_options": peak_rss_mb()})


def _measure(name: str, folder: str, sample: list[str], queries: list[str], total: int):
    """setup_s includes the one-off ONNX export / distillation when `cached` is false."""
    cached = name not in ARTEFACTS or (cache_dir() / ARTEFACTS[name]).exists()
    try:
        began = time.perf_counter()
        encoder = OPTIONS[name](folder)
        setup = time.perf_counter() - began
    except Exception as exc:  # a missing optional package, or an export that fails on this torch/transformers
        logging.getLogger(__name__).exception("option %s could not be set up", name)
        return {"skipped": f"{type(exc).__name__}: {exc}"}, None
    encoder.encode(sample[:BATCH])  # warm up
    began = time.perf_counter()
    facts = encoder.encode(sample)
    rate = len(sample) / (time.perf_counter() - began)
    row = {"setup_s": round(setup, 1), "cached": cached, "facts_per_s": round(rate, 1), "projected_min": round(total / rate / 60, 1),
           "dimension": int(facts.shape[1])}
    return row, _top(facts, encoder.encode(queries))


if __name__ == "__main__":
    main()
