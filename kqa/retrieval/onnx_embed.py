"""MiniLM through onnxruntime with int8 weights: a ConceptNet-sized fact index in minutes (`index.embedder:
minilm-l6-int8`, needs `pip install 'kqa[onnx]'`).

The packaged MiniLM is exported to ONNX once and quantized to int8 per output channel, except each layer's FFN output
projection: its input (after GELU) has the outliers int8 rounds worst, so it stays float32. Measured side by side on
20k ConceptNet facts (benchmarks/bench_embedders.py): 1.42x the PyTorch model's speed at recall@10 0.91 of its
neighbours (plain int8: 2.2x at 0.79). The model is cached under $KQA_CACHE/onnx/<name> and published whole
(kqa.atomic.atomic_folder). Queries must be encoded by the same model as the index: the manifest records its name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from kqa.atomic import atomic_folder
from kqa.errors import ModelUnavailableError
from kqa.models import ONNX_EMBEDDERS, cache_dir, resolve_model

logger = logging.getLogger(__name__)
PIP = "pip install 'kqa[onnx]'"
MAX_TOKENS = 128  # facts and queries are short; MiniLM was trained on 128-token inputs


class OnnxSentenceEncoder:
    """The slice of SentenceTransformer's interface that kqa.retrieval.index.Embedder uses: encode + dimension."""

    def __init__(self, name: str):
        try:
            import onnxruntime
        except ImportError:
            raise ModelUnavailableError(f"`index.embedder` {name!r} runs on onnxruntime, which is not installed. "
                                        f"Fix: {PIP}") from None
        from transformers import AutoTokenizer

        folder = quantized_model(name)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        options = onnxruntime.SessionOptions()
        # no busy-waiting between calls: a spinning pool took the cores from the FAISS search that follows a query
        # encoding (search p50 14 ms instead of 1.2 ms on ConceptNet 4)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options,
                                                    providers=["CPUExecutionProvider"])

    def get_embedding_dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str], batch_size: int = 256, show_progress_bar: bool = False,
               **_) -> np.ndarray:
        """L2-normalized mean-pooled vectors (N, dim), in length-sorted batches (little padding)."""
        from tqdm.auto import tqdm

        order = np.argsort([len(t) for t in texts])
        out = np.zeros((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="Batches", disable=not show_progress_bar):
            rows = order[start : start + batch_size]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=MAX_TOKENS,
                                   return_tensors="np")
            feeds = {k: batch[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = self.session.run(None, feeds)[0]  # (B, T, dim)
            mask = feeds["attention_mask"][..., None].astype(np.float32)  # (B, T, 1)
            out[rows] = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1.0)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def quantized_model(name: str) -> Path:
    """$KQA_CACHE/onnx/<name>/ with model.onnx and the tokenizer, exported and quantized on first use."""
    target = cache_dir() / "onnx" / name
    if (target / "model.onnx").is_file():
        return target
    source = resolve_model(ONNX_EMBEDDERS[name])
    logger.info("Exporting %s to ONNX with int8 weights once into %s (later runs reuse it)", source, target)

    def build(tmp: Path) -> Path:
        export_onnx(source, tmp / "float32.onnx")
        _quantize(tmp / "float32.onnx", tmp / "out" / "model.onnx")
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(source).save_pretrained(tmp / "out")
        return tmp / "out"

    atomic_folder(target, build)
    if not (target / "model.onnx").is_file():
        raise ModelUnavailableError(f"{target} exists but holds no model.onnx (an interrupted export?): delete the "
                                    f"folder and run again.")
    return target


def export_onnx(source: str, out: Path) -> None:
    """MiniLM's last hidden states as ONNX (float32). TorchScript export with eager attention and a padded dummy batch:
    traced with an all-ones mask, the SDPA path would bake "no padding" into the graph and padded rows would attend to
    their padding."""
    from transformers import AutoModel

    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
    except ImportError:
        raise ModelUnavailableError(f"exporting MiniLM to ONNX needs the `onnx` package. Fix: {PIP}") from None
    model = _HiddenStates(AutoModel.from_pretrained(source, attn_implementation="eager").eval())
    dummy = {k: torch.ones(2, 8, dtype=torch.long) for k in ("input_ids", "attention_mask", "token_type_ids")}
    dummy["attention_mask"][1, 5:] = 0
    axes = {k: {0: "batch", 1: "tokens"} for k in (*dummy, "last_hidden_state")}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), str(out),
                      input_names=list(dummy), output_names=["last_hidden_state"], dynamic_axes=axes,
                      opset_version=17, dynamo=False)


def _quantize(source: Path, out: Path) -> None:
    """int8 per output channel, every MatMul but the FFN output projections (kept float32)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = [n.name for n in onnx.load(str(source)).graph.node
            if n.op_type == "MatMul" and n.name.endswith("/output/dense/MatMul") and "/attention/" not in n.name]
    out.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=kept)


class _HiddenStates(torch.nn.Module):
    """A BertModel with its three inputs by name (the export passes them positionally), last hidden states out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state  # (B, T, dim)
