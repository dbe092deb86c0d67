"""The saved-adapter folder format: file names, the adapter_config.json schema, seeds, and raw reads and writes.

Both the loader (kqa.adapters.saving) and the compressor (kqa.adapters.compress) build on this module, so neither
needs the other to know what a folder holds. A folder has `adapter_config.json` and either `adapter.safetensors`
or, written by `kqa adapters compress`, `adapter.compressed.safetensors`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from kqa.adapters.config import AdapterConfig
from kqa.atomic import atomic_text, atomic_write
from kqa.config import format_validation_error
from kqa.errors import StoreError, brief
from kqa.models import resolve_model
from kqa.userinput import NotJSON, parse_json, path_kind
from kqa.version import __version__

WEIGHTS = "adapter.safetensors"
COMPRESSED = "adapter.compressed.safetensors"
CONFIG = "adapter_config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
PARTS = ("head", "gated", "lora", "peft", "unfrozen")  # every saved tensor name starts with one of these + "."


class _Written(BaseModel):
    """A part of adapter_config.json as kqa writes it: the fields kqa reads are typed (strict: a hand-edited "5"
    is refused, not carried to where an int is used), every other field is kept as it is."""

    model_config = ConfigDict(extra="allow", strict=True)


class _Backbone(_Written):
    name: str
    sha256: dict[str, str] | None = None


class _Train(_Written):
    seed: int = 0
    max_length: int | None = Field(None, gt=0)


class _LongContext(_Written):
    enabled: bool = False
    target_length: int | None = Field(None, gt=0)


class _Training(_Written):
    train: _Train = _Train()
    long_context: _LongContext | None = None


class _Compression(_Written):
    tensors: dict[str, list[int]]


class AdapterMeta(_Written):
    """adapter_config.json: checked once when read, so no later `meta[...]` meets a missing key or a wrong type."""

    adapter: AdapterConfig
    reference_adapter: AdapterConfig | None = None
    backbone: _Backbone
    graph_checksum: str | None = None
    init_seed: int | None = None
    training: _Training = _Training()
    compression: _Compression | None = None


def reference_config(meta: dict) -> AdapterConfig:
    """The config whose seeded initialisation is the set's task-vector reference theta_0: its own, or for a combined
    adapter (whose LoRA rank may have grown) the one its sources started from."""
    return AdapterConfig.model_validate(meta.get("reference_adapter") or meta["adapter"])


def init_seed(meta: dict) -> int:
    """Seed of the set's initialisation (`init_seed`); adapters saved without it used the training seed (or 0)."""
    if meta.get("init_seed") is not None:
        return int(meta["init_seed"])
    return int(meta.get("training", {}).get("train", {}).get("seed", 0))


def long_context_settings(meta: dict) -> dict:
    """The `long_context` section the adapter was trained with ({} when none was recorded)."""
    return meta.get("training", {}).get("long_context") or {}


def write_adapter(folder: str | Path, config: AdapterConfig, state: dict[str, torch.Tensor], meta: dict,
                  weights_file: str = WEIGHTS) -> Path:
    """Write `state` (keyed like `trainable_state`) and the JSON config; `meta` adds or overrides JSON fields."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "kqa_version": __version__,
        "method": config.method,
        "adapter": config.model_dump(mode="json"),
        "backbone": {"name": config.backbone, "sha256": backbone_checksum(config.backbone)},
        "graph_checksum": None,
        "training": {},
    } | meta
    for stale in {WEIGHTS, COMPRESSED} - {weights_file}:  # a folder holds one form of the weights
        (folder / stale).unlink(missing_ok=True)
    atomic_write(folder / weights_file, lambda handle: handle.write(save(state, metadata={"format": "pt"})))
    atomic_text(folder / CONFIG, json.dumps(meta, indent=2) + "\n")
    return folder


def read_meta(folder: str | Path) -> dict:
    """The adapter_config.json of a saved adapter (no weights read), checked against `AdapterMeta`."""
    folder = Path(folder)
    kind, reason = path_kind(folder / CONFIG)
    if kind == "unusable":
        raise StoreError(f"adapter folder {brief(str(folder))} cannot be opened: {reason}.")
    if kind != "file" or not ((folder / WEIGHTS).is_file() or (folder / COMPRESSED).is_file()):
        raise StoreError(f"{folder} is not a saved adapter: it needs {CONFIG} and {WEIGHTS} (or {COMPRESSED}). "
                         f"Pass the folder `kqa train --out OUT` saved it to (OUT/adapter), or train one first.")
    path = folder / CONFIG
    raw = path.read_bytes()
    try:
        meta = parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); not an adapter "
                         f"config written by kqa.") from None
    except NotJSON as exc:
        raise StoreError(f"{path}: {exc}; not an adapter config written by kqa.") from None
    return _checked_meta(meta, path)


def _checked_meta(meta: object, path: Path) -> dict:
    if not isinstance(meta, dict):
        raise StoreError(f"{path}: the top level must be a JSON object, got {type(meta).__name__}.")
    try:
        AdapterMeta.model_validate(meta)
    except ValidationError as exc:
        raise StoreError(f"{path}: not an adapter config written by kqa: {format_validation_error(exc)}") from None
    return meta


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a truncated or foreign file is a StoreError naming it."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise StoreError(f"{path}: not a readable safetensors file ({exc}); save the adapter again.") from None


def own_parts(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """`state` when every tensor belongs to a part of the trainable set (`load_trainable_state` places it)."""
    foreign = sorted(k for k in state if k.split(".")[0] not in PARTS)
    if foreign:
        raise StoreError(f"{path}: tensors {brief(foreign)} belong to no part of an adapter (names start with "
                         f"{', '.join(p + '.' for p in PARTS)}); not a file kqa wrote.")
    return state


def backbone_checksum(name: str) -> dict[str, str] | None:
    """SHA-256 per weight file of the backbone folder; None for a hub id that is not a local folder."""
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
