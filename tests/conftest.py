"""Shared fixtures: tiny config-built models (no download, built in milliseconds) and small question files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kqa.models import REGISTRY, package_dir


@pytest.fixture(scope="session")
def minilm_tokenizer():
    """The packaged MiniLM WordPiece tokenizer: a real tokenizer to pair with tiny random models."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(package_dir(REGISTRY["minilm-l6"]) / "model")


@pytest.fixture(scope="session")
def tiny_llama(minilm_tokenizer):
    """A 2-layer LlamaForCausalLM with the MiniLM vocabulary, seeded so its scores are reproducible."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_llama, minilm_tokenizer) -> Path:
    """The tiny model saved as a normal HF folder: what a user's own local model looks like."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama.save_pretrained(folder)
    minilm_tokenizer.save_pretrained(folder)
    return folder


def write_jsonl(path: Path, records: list) -> Path:
    """Write records as JSONL; a `str` record is written verbatim (for malformed lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csqa_record(qid: str = "q1", answer: str = "A", labels=("A", "B", "C"), nested: bool = True) -> dict:
    texts = [f"choice {label.lower()}" for label in labels]
    if nested:
        return {
            "id": qid,
            "question": {"stem": "Where do fish live?", "question_concept": "fish",
                         "choices": [{"label": lab, "text": t} for lab, t in zip(labels, texts)]},
            "answerKey": answer,
        }
    return {"id": qid, "question": "Where do fish live?", "question_concept": "fish",
            "choices": {"label": list(labels), "text": texts}, "answerKey": answer}
