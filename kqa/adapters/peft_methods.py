"""The peft methods of `adapter.method`: their peft configs, which parameters they train, and their saved state.

| method   | peft                      | trains                                         | sequence seen by the layers   |
|----------|---------------------------|------------------------------------------------|-------------------------------|
| lora     | LoraConfig                | A and B of every target module                 | T tokens                      |
| lora-fa  | LoraConfig + LoRA-FA opt. | B only (A frozen at its random init)           | T tokens                      |
| ia3      | IA3Config                 | one scaling vector per target module           | T tokens                      |
| prefix   | PrefixTuningConfig        | V key/value vectors per layer (P-tuning v2)    | T tokens, V past keys/values  |
| prompt   | PromptTuningConfig        | V input embeddings                             | V + T tokens                  |
| p-tuning | PromptEncoderConfig       | V input embeddings through an MLP              | V + T tokens                  |

Prompt methods are built as peft's FEATURE_EXTRACTION task (AutoModel backbones return hidden states); that peft
model prepends its V virtual tokens to the attention mask, and to the hidden states for prompt/p-tuning, which
`KnowledgeModel` strips before pooling.
"""

from __future__ import annotations

import inspect
import logging
import re

import torch
from torch import nn

from kqa.adapters.config import AdapterConfig
from kqa.adapters.gated import find_layers
from kqa.errors import ConfigError, StoreError

logger = logging.getLogger(__name__)

# Attention query/value projections; peft adapts whichever of these names the backbone has (BERT-likes call them
# query/value, MPNet q/v), so one list serves every encoder.
LORA_TARGETS = {"encoder": ["query", "value", "q", "v"], "decoder": ["q_proj", "v_proj"]}
# (IA)^3 after Liu et al. 2022: rescale keys, values and the FFN's inner activation (the FFN output's input)
IA3_TARGETS = {"encoder": (["key", "value", "k", "v", "output.dense"], ["output.dense"]),
               "decoder": (["k_proj", "v_proj", "down_proj"], ["down_proj"])}
PEFT_MARKERS = (".lora_", ".ia3_", "prompt_encoder.")  # names of peft-owned parameters (adapter name follows)


def peft_config(config: AdapterConfig, family: str, layers_pattern: str):
    """The peft config of `config.peft_method`; `layers_pattern` names the backbone's layer list ("layer")."""
    method = config.peft_method
    if method in ("lora", "lora-fa"):
        return _lora(config, family, layers_pattern)
    if method == "ia3":
        return _ia3(config, family, layers_pattern)
    return _prompt(config)


def _lora(config: AdapterConfig, family: str, layers_pattern: str):
    from peft import LoraConfig

    settings = config.lora
    pattern = layers_pattern if settings.layers_to_transform is not None else None
    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=settings.target_modules or LORA_TARGETS[family],
                      layers_to_transform=settings.layers_to_transform, layers_pattern=pattern)


def _ia3(config: AdapterConfig, family: str, layers_pattern: str):
    """IA3Config; peft has no `layers_to_transform` for (IA)^3, so a layer subset becomes a target regex."""
    from peft import IA3Config

    settings = config.ia3
    targets = settings.target_modules or IA3_TARGETS[family][0]
    feedforward = settings.feedforward_modules or [t for t in IA3_TARGETS[family][1] if t in targets]
    if settings.layers_to_transform is not None:
        layers = "|".join(str(i) for i in settings.layers_to_transform)
        names = "|".join(re.escape(t) for t in targets)
        targets = rf"(.*\.)?{re.escape(layers_pattern)}\.({layers})\.(.*\.)?({names})"
    return IA3Config(target_modules=targets, feedforward_modules=feedforward)


def _prompt(config: AdapterConfig):
    from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig

    settings, task = config.prompt, "FEATURE_EXTRACTION"
    if config.peft_method == "prefix":
        return PrefixTuningConfig(task_type=task, num_virtual_tokens=settings.num_virtual_tokens,
                                  prefix_projection=settings.prefix_projection,
                                  encoder_hidden_size=settings.encoder_hidden_size)
    if config.peft_method == "prompt":
        return PromptTuningConfig(task_type=task, num_virtual_tokens=settings.num_virtual_tokens)
    return PromptEncoderConfig(task_type=task, num_virtual_tokens=settings.num_virtual_tokens,
                               encoder_hidden_size=settings.encoder_hidden_size)


def apply_peft(backbone: nn.Module, config: AdapterConfig, family: str, name: str = "default") -> nn.Module:
    """Wrap the frozen backbone in a peft model with one adapter `name` of `config.peft_method`."""
    from peft import get_peft_model

    check_applies(backbone, config)
    pattern = find_layers(backbone)[0].rpartition(".")[2]
    try:
        return get_peft_model(backbone, peft_config(config, family, pattern), adapter_name=name)
    except ValueError as exc:  # peft: a target module that the backbone does not have, and the like
        raise ConfigError(f"`adapter.method` {config.method!r} cannot be applied to `adapter.backbone` "
                          f"{config.backbone!r} ({type(backbone).__name__}): {exc} Set the method's target modules "
                          f"(`adapter.lora` / `adapter.ia3`) to module names of this backbone.") from None


def check_applies(backbone: nn.Module, config: AdapterConfig) -> None:
    """Refuse a method the backbone cannot run, before peft fails somewhere inside its forward pass."""
    accepted = inspect.signature(backbone.forward).parameters
    if config.peft_method == "prefix" and not {"past_key_values", "cache"} & set(accepted):  # transformers 5: cache
        raise ConfigError(f"`adapter.method` {config.method!r}: prefix tuning feeds past keys/values to every layer, "
                          f"and {type(backbone).__name__} (`adapter.backbone` {config.backbone!r}) takes no "
                          f"`past_key_values`. Use `prompt` or `p-tuning` (input prompts) instead.")
    if config.peft_method in ("prompt", "p-tuning") and "inputs_embeds" not in accepted:
        raise ConfigError(f"`adapter.method` {config.method!r} prepends prompt embeddings, and "
                          f"{type(backbone).__name__} takes no `inputs_embeds`. Use `lora` or `ia3` instead.")


def virtual_tokens(config: AdapterConfig) -> int:
    """Tokens a method prepends to the hidden states (prompt, p-tuning); prefix tuning adds keys/values only."""
    return config.prompt.num_virtual_tokens if config.peft_method in ("prompt", "p-tuning") else 0


def is_peft_key(key: str) -> bool:
    return any(marker in key for marker in PEFT_MARKERS)


def is_trainable_peft_key(key: str, name: str, config: AdapterConfig) -> bool:
    """Whether parameter `key` belongs to adapter `name` and trains (LoRA-FA keeps A frozen at its init)."""
    if not is_peft_key(key):
        return False
    if config.peft_method == "lora-fa" and ".lora_A." in key:
        return False
    return f".{name}." in key or key.endswith(f".{name}")  # lora_A.NAME.weight, ia3_l.NAME, prompt_encoder.NAME.x


def peft_state(backbone: nn.Module, config: AdapterConfig, name: str) -> dict[str, torch.Tensor]:
    """Weights of peft adapter `name`. Prompt methods keep their whole prompt encoder (peft would save p-tuning's
    encoded prompts, which reload only in inference mode and would lose the encoder needed to resume)."""
    if config.uses_prompt:
        return dict(backbone.prompt_encoder[name].state_dict())
    from peft.utils import get_peft_model_state_dict

    return get_peft_model_state_dict(backbone, adapter_name=name)


def load_peft_state(backbone: nn.Module, config: AdapterConfig, state: dict[str, torch.Tensor], name: str) -> None:
    if config.uses_prompt:
        try:
            backbone.prompt_encoder[name].load_state_dict(state)
        except RuntimeError as exc:
            raise StoreError(f"prompt weights do not fit `adapter.prompt` {config.prompt.model_dump()}: {exc}") from None
        return
    from peft.utils import set_peft_model_state_dict

    result = set_peft_model_state_dict(backbone, state, adapter_name=name)
    if result.unexpected_keys:
        raise StoreError(f"{config.peft_method} weights do not fit the backbone: unexpected keys "
                         f"{result.unexpected_keys[:3]}")
