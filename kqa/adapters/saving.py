"""Save and load the trainable weights only: `adapter.safetensors` + `adapter_config.json`.

The JSON names the backbone and the SHA-256 of its weight files, the graph checksum the adapter was trained
against (when the caller knows it), and a training summary. Loading refuses a backbone whose files differ.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kqa.adapters.config import AdapterConfig
from kqa.adapters.model import KnowledgeModel, build_model
from kqa.errors import StoreError

WEIGHTS = "adapter.safetensors"
CONFIG = "adapter_config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


@dataclass(frozen=True)
class SavedAdapter:
    path: Path
    config: AdapterConfig
    weights: dict  # name -> tensor, keys prefixed "gated." / "head." / "lora."
    meta: dict  # the whole adapter_config.json


def trainable_state(model: KnowledgeModel, name: str | None = None) -> dict[str, torch.Tensor]:
    """The weights of one trainable set, on CPU, keyed by part."""
    name = name or model.active
    state = {f"head.{k}": v for k, v in model.heads[name].state_dict().items()}
    if model.config.uses_gated:
        state |= {f"gated.{k}": v for k, v in model.adapters[name].state_dict().items()}
    if model.config.uses_lora and not model.merged:
        from peft.utils import get_peft_model_state_dict

        state |= {f"lora.{k}": v for k, v in get_peft_model_state_dict(model.backbone, adapter_name=name).items()}
    # long_context training unfreezes embeddings and norms (LongLoRA's "trainable_params"): they belong to the set
    state |= {f"unfrozen.{k}": p for k, p in model.backbone.named_parameters() if p.requires_grad and ".lora_" not in k}
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def load_trainable_state(model: KnowledgeModel, state: dict[str, torch.Tensor], name: str | None = None) -> None:
    """Inverse of `trainable_state`; every key must land somewhere."""
    name = name or model.active
    parts = {p: {k[len(p) + 1 :]: v for k, v in state.items() if k.startswith(p + ".")}
             for p in ("head", "gated", "lora", "unfrozen")}
    model.heads[name].load_state_dict(parts["head"])
    if model.config.uses_gated:
        model.adapters[name].load_state_dict(parts["gated"])
    if model.config.uses_lora:
        from peft.utils import set_peft_model_state_dict

        result = set_peft_model_state_dict(model.backbone, parts["lora"], adapter_name=name)
        if result.unexpected_keys:
            raise StoreError(f"LoRA weights do not fit the backbone: unexpected keys {result.unexpected_keys[:3]}")
    if parts["unfrozen"]:
        backbone = dict(model.backbone.named_parameters())
        missing = sorted(set(parts["unfrozen"]) - set(backbone))
        if missing:
            raise StoreError(f"unfrozen backbone weights do not fit the backbone: unknown names {missing[:3]}")
        with torch.no_grad():
            for key, value in parts["unfrozen"].items():
                backbone[key].copy_(value)


def save_adapter(model: KnowledgeModel, folder: str | Path, *, graph_checksum: str | None = None,
                 training: dict | None = None) -> Path:
    """Write the active set's trainable weights and its config; files are replaced atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "kqa_version": _version(),
        "method": model.config.method,
        "adapter": model.config.model_dump(mode="json"),
        "backbone": {"name": model.config.backbone, "sha256": backbone_checksum(model.config.backbone)},
        "graph_checksum": graph_checksum,
        "training": training or {},
    }
    _atomic(folder / WEIGHTS, lambda p: save_file(trainable_state(model), str(p), metadata={"format": "pt"}))
    _atomic(folder / CONFIG, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8"))
    return folder


def read_adapter(folder: str | Path, *, check_backbone: bool = True) -> SavedAdapter:
    folder = Path(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise StoreError(f"{folder} is not a saved adapter: it needs {CONFIG} and {WEIGHTS}.")
    meta = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    config = AdapterConfig.model_validate(meta["adapter"])
    if check_backbone:
        installed = backbone_checksum(config.backbone)
        if installed != meta["backbone"]["sha256"]:
            raise StoreError(
                f"{folder / CONFIG}: `backbone.sha256` does not match the installed backbone {config.backbone!r}: "
                f"the adapter was trained against {meta['backbone']['sha256']}, installed files are {installed}."
            )
    return SavedAdapter(folder, config, load_file(str(folder / WEIGHTS)), meta)


def load_model(folder: str | Path, name: str = "default") -> tuple[KnowledgeModel, object]:
    """Build the backbone named by a saved adapter and load its trainable weights as the set `name`."""
    saved = read_adapter(folder)
    model, tokenizer = build_model(saved.config, name=name)
    load_trainable_state(model, saved.weights, name)
    return model.eval(), tokenizer


def add_saved_adapter(model: KnowledgeModel, folder: str | Path, name: str) -> None:
    """Load another saved adapter into `model` as the set `name` (same backbone and architecture required)."""
    saved = read_adapter(folder)
    check_compatible(model.config, saved)
    model.add_adapter(name)
    load_trainable_state(model, saved.weights, name)


def check_compatible(config: AdapterConfig, saved: SavedAdapter) -> None:
    """A saved adapter fits a model when everything but the LoRA hyper-parameters is the same."""
    mine, theirs = config.model_dump(exclude={"lora"}), saved.config.model_dump(exclude={"lora"})
    diff = sorted(k for k in mine if mine[k] != theirs[k])
    if diff or config.lora.target_modules != saved.config.lora.target_modules:
        raise StoreError(f"{saved.path / CONFIG}: the adapter config differs from the model's in "
                         f"{diff or ['lora.target_modules']}: {[(k, theirs[k], mine[k]) for k in diff]} (saved, model).")


def backbone_checksum(name: str) -> dict[str, str] | None:
    """SHA-256 per weight file of the backbone folder; None for a hub id that is not a local folder."""
    from kqa.models import resolve_model

    folder = Path(resolve_model(name))
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    return {p.name: _sha256(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files}


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime key the cache: a changed file re-hashes
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _version() -> str:
    from kqa import __version__

    return __version__
