"""Save and load the trainable weights only: `adapter.safetensors` + `adapter_config.json`.

The JSON names the backbone and the SHA-256 of its weight files, the graph checksum the adapter was trained
against (when the caller knows it), the seed of its initialisation (the reference of task vectors, see
kqa.adapters.arithmetic) and a training summary. Loading refuses a backbone whose files differ. A folder written by
`kqa adapters compress` holds `adapter.compressed.safetensors` instead, expanded on reading (kqa.adapters.ternary).
The format itself (names, schema, seeds) is kqa.adapters.fileformat; the tensors of a set, kqa.adapters.state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kqa.adapters.config import AdapterConfig
from kqa.adapters.fileformat import (  # noqa: F401  (re-exported: these lived here before the format had a module)
    COMPRESSED,
    CONFIG,
    PARTS,
    WEIGHT_SUFFIXES,
    WEIGHTS,
    AdapterMeta,
    backbone_checksum,
    init_seed,
    long_context_settings,
    own_parts,
    read_meta,
    read_weights,
    reference_config,
    write_adapter,
)
from kqa.adapters.longlora import extend_rope
from kqa.adapters.model import KnowledgeModel, build_model
from kqa.adapters.state import load_trainable_state, peft_prefix, trainable_state  # noqa: F401  (re-exported)
from kqa.adapters.ternary import decompress
from kqa.errors import StoreError


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


def save_adapter(model: KnowledgeModel, folder: str | Path, *, graph_checksum: str | None = None,
                 training: dict | None = None) -> Path:
    """Write the active set's trainable weights and its config; files are replaced atomically."""
    meta = {"graph_checksum": graph_checksum, "training": training or {}, "init_seed": model.init_seed}
    return write_adapter(folder, model.config, trainable_state(model), meta)


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
        return SavedAdapter(folder, config, own_parts(read_weights(folder / WEIGHTS), folder / WEIGHTS), meta)
    return SavedAdapter(folder, config, decompress(read_weights(folder / COMPRESSED), config, meta), meta)


def load_model(folder: str | Path, name: str = "default") -> tuple[KnowledgeModel, object]:
    """Build the backbone named by a saved adapter and load its trainable weights as the set `name`."""
    saved = read_adapter(folder)
    model, tokenizer = build_model(saved.config, seed=saved.init_seed, name=name)
    restore_long_context(model, saved.meta)
    load_trainable_state(model, saved.weights, name)
    return model.eval(), tokenizer


def restore_long_context(model: KnowledgeModel, meta: dict) -> None:
    """An adapter trained with RoPE position interpolation must read positions the same way at inference (the
    rotary scaling is not a weight, so it is not in the safetensors file). S2-Attn is training-only: not restored."""
    target = long_context_settings(meta).get("target_length")
    if target:
        extend_rope(model.backbone, int(target))


def add_saved_adapter(model: KnowledgeModel, folder: str | Path, name: str) -> None:
    """Load another saved adapter into `model` as the set `name` (same backbone and architecture required)."""
    saved = read_adapter(folder)
    check_compatible(model.config, saved)
    changes_backbone = any(key.startswith("unfrozen.") for key in saved.weights)
    if changes_backbone or model.unfrozen_from is not None:
        culprit = folder if changes_backbone else f"the adapter loaded as {model.unfrozen_from!r}"
        raise StoreError(f"{culprit} changes the backbone's own weights (`method: full`, or long_context's embeddings "
                         f"and norms), so it cannot share one backbone with other adapters: load it in a reader of "
                         f"its own.")
    model.add_adapter(name, peft_settings=saved.config)  # its own LoRA rank (a combined adapter's may differ)
    load_trainable_state(model, saved.weights, name)


def check_compatible(config: AdapterConfig, saved: SavedAdapter) -> None:
    """A saved adapter fits a model when everything but the LoRA hyper-parameters is the same."""
    mine, theirs = config.model_dump(exclude={"lora"}), saved.config.model_dump(exclude={"lora"})
    diff = sorted(k for k in mine if mine[k] != theirs[k])
    if diff or config.lora.target_modules != saved.config.lora.target_modules:
        raise StoreError(f"{saved.path / CONFIG}: the adapter config differs from the model's in "
                         f"{diff or ['lora.target_modules']}: {[(k, theirs[k], mine[k]) for k in diff]} (saved, model).")
