"""index.embedder: minilm-l6-int8 — the packaged MiniLM on onnxruntime with int8 weights, exported once into the
cache; its vectors keep MiniLM's neighbours, and without onnxruntime the error names the extra to install."""

import numpy as np
import pytest

from kqa.errors import ModelUnavailableError
from kqa.retrieval import onnx_embed
from kqa.retrieval.index import Embedder

FACTS = ["a fish is located at an aquarium", "an oven is used for baking bread", "a desert is dry",
         "a bicycle has two wheels", "a library is used for reading books", "snow is cold",
         "a pilot can fly a plane", "a cow is located at a farm"]
QUERIES = ["Where would you keep a live fish?", "What do you bake bread in?", "Where do cows live?",
           "What has two wheels and pedals?"]


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    import os

    cache = tmp_path_factory.mktemp("kqa-cache")
    old = os.environ.get("KQA_CACHE")
    os.environ["KQA_CACHE"] = str(cache)
    try:
        yield Embedder("minilm-l6-int8", batch_size=3), cache
    finally:
        if old is None:
            os.environ.pop("KQA_CACHE")
        else:
            os.environ["KQA_CACHE"] = old


@pytest.mark.slow
def test_int8_vectors_keep_minilms_neighbours(int8):
    embedder, cache = int8
    quantized, full = embedder.encode(FACTS), Embedder("minilm-l6").encode(FACTS)  # (8, 384) each
    assert quantized.shape == full.shape == (8, 384) and embedder.dimension == 384
    assert np.allclose(np.linalg.norm(quantized, axis=1), 1.0, atol=1e-5)
    assert (quantized * full).sum(1).min() > 0.97  # cosine with the float32 model's vector of the same fact
    q_int8, q_full = embedder.encode(QUERIES), Embedder("minilm-l6").encode(QUERIES)
    assert ((q_int8 @ quantized.T).argmax(1) == (q_full @ full.T).argmax(1)).all()  # the same nearest fact
    assert sorted(p.name for p in (cache / "onnx").iterdir()) == ["minilm-l6-int8"]  # published whole, once
    assert (cache / "onnx" / "minilm-l6-int8" / "model.onnx").is_file()
    assert np.array_equal(embedder.encode(FACTS), quantized)  # the same batches give the same vectors
    # length-sorted batches are put back in place; other batches shift a vector a little (the activations' int8
    # scale is taken per batch), never to another fact's place
    regrouped = Embedder("minilm-l6-int8", batch_size=8).encode(FACTS[::-1])[::-1]
    assert (regrouped * quantized).sum(1).min() > 0.98


def test_without_onnxruntime_the_error_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ModelUnavailableError, match=r"`index.embedder` 'minilm-l6-int8' runs on onnxruntime.*"
                                                    r"pip install 'kqa\[onnx\]'"):
        onnx_embed.OnnxSentenceEncoder("minilm-l6-int8")
