"""Save and load the trainable weights only: `adapter.safetensors` + `adapter_config.json`.

The JSON names the backbone and the SHA-256 of its weight files, the graph checksum the adapter was trained
against (when the caller knows it), the seed of its initialisation (the reference of task vectors, see
kqa.adapters.arithmetic) and a training summary. Loading refuses a backbone whose files differ. A folder written by
`kqa adapters compress` holds `adapter.compressed.safetensors` instead, expanded on reading (kqa.adapters.compress).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kqa.adapters.config import AdapterConfig
from kqa.adapters.model import KnowledgeModel, build_model
from kqa.adapters.peft_methods import is_peft_key, load_peft_state, peft_state
from kqa.config import format_validation_error
from kqa.errors import StoreError, brief
from kqa.userinput import NotJSON, parse_json, path_kind

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


@dataclass(frozen=True)
class SavedAdapter:
    path: Path
    config: AdapterConfig
    weights: dict  # name -> tensor, keys prefixed "gated." / "head." / "lora." (LoRA, LoRA-FA) / "peft." (others)
    meta: dict  # the whole adapter_config.json

    @property
    def init_seed(self) -> int:
        return init_seed(self.meta)

    @property
    def reference_config(self) -> AdapterConfig:
        return reference_config(self.meta)


def reference_config(meta: dict) -> AdapterConfig:
    """The config whose seeded initialisation is the set's task-vector reference theta_0: its own, or for a combined
    adapter (whose LoRA rank may have grown) the one its sources started from."""
    return AdapterConfig.model_validate(meta.get("reference_adapter") or meta["adapter"])


def init_seed(meta: dict) -> int:
    """Seed of the set's initialisation (`init_seed`); adapters saved without it used the training seed (or 0)."""
    if meta.get("init_seed") is not None:
        return int(meta["init_seed"])
    return int(meta.get("training", {}).get("train", {}).get("seed", 0))


def peft_prefix(config: AdapterConfig) -> str:
    return "lora" if config.uses_lora else "peft"


def trainable_state(model: KnowledgeModel, name: str | None = None) -> dict[str, torch.Tensor]:
    """The weights of one trainable set, on CPU, keyed by part."""
    name = name or model.active
    state = {f"head.{k}": v for k, v in model.heads[name].state_dict().items()}
    if model.config.uses_gated:
        state |= {f"gated.{k}": v for k, v in model.adapters[name].state_dict().items()}
    if model.config.peft_method is not None and not model.merged:
        prefix = peft_prefix(model.config)
        state |= {f"{prefix}.{k}": v for k, v in peft_state(model.backbone, model.config, name).items()}
    # long_context training unfreezes embeddings and norms (LongLoRA's "trainable_params"): they belong to the set
    state |= {f"unfrozen.{k}": p for k, p in model.backbone.named_parameters() if p.requires_grad and not is_peft_key(k)}
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def load_trainable_state(model: KnowledgeModel, state: dict[str, torch.Tensor], name: str | None = None) -> None:
    """Inverse of `trainable_state`; every key must land somewhere."""
    name = name or model.active
    parts = {p: {k[len(p) + 1 :]: v for k, v in state.items() if k.startswith(p + ".")} for p in PARTS}
    model.heads[name].load_state_dict(parts["head"])
    if model.config.uses_gated:
        model.adapters[name].load_state_dict(parts["gated"])
    if model.config.peft_method is not None:
        load_peft_state(model.backbone, model.config, parts[peft_prefix(model.config)], name)
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
    meta = {"graph_checksum": graph_checksum, "training": training or {}, "init_seed": model.init_seed}
    return write_adapter(folder, model.config, trainable_state(model), meta)


def write_adapter(folder: str | Path, config: AdapterConfig, state: dict[str, torch.Tensor], meta: dict,
                  weights_file: str = WEIGHTS) -> Path:
    """Write `state` (keyed like `trainable_state`) and the JSON config; `meta` adds or overrides JSON fields."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "kqa_version": _version(),
        "method": config.method,
        "adapter": config.model_dump(mode="json"),
        "backbone": {"name": config.backbone, "sha256": backbone_checksum(config.backbone)},
        "graph_checksum": None,
        "training": {},
    } | meta
    for stale in {WEIGHTS, COMPRESSED} - {weights_file}:  # a folder holds one form of the weights
        (folder / stale).unlink(missing_ok=True)
    _atomic(folder / weights_file, lambda p: save_file(state, str(p), metadata={"format": "pt"}))
    _atomic(folder / CONFIG, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8"))
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


def read_adapter(folder: str | Path, *, check_backbone: bool = True) -> SavedAdapter:
    """Config and weights of a saved adapter; compressed weights are expanded (which builds the backbone once)."""
    folder = Path(folder)
    meta = read_meta(folder)
    config = AdapterConfig.model_validate(meta["adapter"])
    if check_backbone:
        installed = backbone_checksum(config.backbone)
        if installed != meta["backbone"]["sha256"]:
            raise StoreError(
                f"{folder / CONFIG}: `backbone.sha256` does not match the installed backbone {config.backbone!r}: "
                f"the adapter was trained against {meta['backbone']['sha256']}, installed files are {installed}."
            )
    if (folder / WEIGHTS).is_file():
        return SavedAdapter(folder, config, _own_parts(read_weights(folder / WEIGHTS), folder / WEIGHTS), meta)
    from kqa.adapters.compress import decompress

    return SavedAdapter(folder, config, decompress(read_weights(folder / COMPRESSED), config, meta), meta)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a truncated or foreign file is a StoreError naming it."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise StoreError(f"{path}: not a readable safetensors file ({exc}); save the adapter again.") from None


def _own_parts(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """`state` when every tensor belongs to a part of the trainable set (`load_trainable_state` places it)."""
    foreign = sorted(k for k in state if k.split(".")[0] not in PARTS)
    if foreign:
        raise StoreError(f"{path}: tensors {brief(foreign)} belong to no part of an adapter (names start with "
                         f"{', '.join(p + '.' for p in PARTS)}); not a file kqa wrote.")
    return state


def load_model(folder: str | Path, name: str = "default") -> tuple[KnowledgeModel, object]:
    """Build the backbone named by a saved adapter and load its trainable weights as the set `name`."""
    saved = read_adapter(folder)
    model, tokenizer = build_model(saved.config, seed=saved.init_seed, name=name)
    restore_long_context(model, saved.meta)
    load_trainable_state(model, saved.weights, name)
    return model.eval(), tokenizer


def long_context_settings(meta: dict) -> dict:
    """The `long_context` section the adapter was trained with ({} when none was recorded)."""
    return meta.get("training", {}).get("long_context") or {}


def restore_long_context(model: KnowledgeModel, meta: dict) -> None:
    """An adapter trained with RoPE position interpolation must read positions the same way at inference (the
    rotary scaling is not a weight, so it is not in the safetensors file). S2-Attn is training-only: not restored."""
    target = long_context_settings(meta).get("target_length")
    if target:
        from kqa.adapters.longlora import extend_rope

        extend_rope(model.backbone, int(target))


def add_saved_adapter(model: KnowledgeModel, folder: str | Path, name: str) -> None:
    """Load another saved adapter into `model` as the set `name` (same backbone and architecture required)."""
    saved = read_adapter(folder)
    check_compatible(model.config, saved)
    model.add_adapter(name, peft_settings=saved.config)  # its own LoRA rank (a combined adapter's may differ)
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
