"""The gated knowledge adapter (after KPE, ACL 2023) and the hooks that run it inside an unmodified backbone.

One `GatedKnowledgeAdapter` is shared by every adapted layer. In layer l, with feed-forward output h (T x d) and the
knowledge stream k (K x d):

    g = sigmoid(W . mean_T(h))                    one gate per sequence, mean over real tokens only
    x = [g*h ; k]                                 (T+K) x d
    z = LN(up(ReLU(encoder(down(x))))) + x        the encoder masks padding of both the question and the facts
    c, k' = z[:T], z[T:]

A forward hook on the layer's FFN output projection replaces h by h + c, so a post-norm (BERT) layer computes
LN(h + c + residual) and a pre-norm (Llama) layer residual + h + c. The stream k' feeds the next adapted layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from kqa.errors import ConfigError

# the FFN output projection of one layer, per architecture family (post-norm encoders, pre-norm decoders)
FFN_OUTPUTS = {"output.dense": "encoder", "mlp.down_proj": "decoder"}
GATE_BIAS_INIT = -3.0  # sigmoid(-3) = 0.05: the adapter starts close to the frozen backbone
FFN_FACTOR = 2  # the adapter encoder's feed-forward width is FFN_FACTOR x width (keeps it under 5% of MiniLM)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (N, T, d) over the positions where mask (N, T) is true -> (N, d)."""
    weights = mask.to(x.dtype).unsqueeze(-1)  # (N, T, 1)
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class GatedKnowledgeAdapter(nn.Module):
    """Shared adapter: gate, down-projection, 1-layer transformer encoder, ReLU, up-projection, LayerNorm."""

    def __init__(self, hidden: int, width: int, heads: int, max_fact_tokens: int, dropout: float = 0.1,
                 init_scale: float = 0.1):
        super().__init__()
        self.gate = nn.Linear(hidden, 1)
        nn.init.constant_(self.gate.bias, GATE_BIAS_INIT)
        self.positions = nn.Embedding(max_fact_tokens, hidden)  # learned positions of the knowledge stream
        nn.init.normal_(self.positions.weight, std=0.02)
        self.down = nn.Linear(hidden, width)
        self.encoder = nn.TransformerEncoderLayer(width, heads, FFN_FACTOR * width, dropout, batch_first=True)
        self.up = nn.Linear(width, hidden)
        self.norm = nn.LayerNorm(hidden)
        nn.init.constant_(self.norm.weight, init_scale)

    def start_stream(self, fact_embeddings: torch.Tensor) -> torch.Tensor:
        """Frozen word embeddings of the facts (N, K, d) + learned positions -> the first knowledge stream."""
        positions = torch.arange(fact_embeddings.shape[1], device=fact_embeddings.device)
        return fact_embeddings + self.positions(positions)  # (N, K, d)

    def gate_value(self, h: torch.Tensor, h_mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gate(masked_mean(h, h_mask)))  # (N, 1)

    def forward(self, h: torch.Tensor, k: torch.Tensor, h_mask: torch.Tensor, k_mask: torch.Tensor):
        """h (N, T, d), k (N, K, d), masks true on real tokens -> (c (N, T, d), next k (N, K, d))."""
        g = self.gate_value(h, h_mask).unsqueeze(-1)  # (N, 1, 1)
        x = torch.cat([g * h, k], dim=1)  # (N, T+K, d)
        padding = ~torch.cat([h_mask, k_mask], dim=1)  # (N, T+K), True = padding (PyTorch's convention)
        body = self.norm(self.up(torch.relu(self.encoder(self.down(x), src_key_padding_mask=padding))))
        z = body + x  # (N, T+K, d)
        return z[:, : h.shape[1]], z[:, h.shape[1] :]


@dataclass
class KnowledgeState:
    """Per-forward state read and updated by each hooked layer (mutable on purpose: the stream advances)."""

    adapter: GatedKnowledgeAdapter
    stream: torch.Tensor  # (N, K, d)
    stream_mask: torch.Tensor  # (N, K) bool, True = real fact token
    token_mask: torch.Tensor  # (N, T) bool, True = real question/choice token


def find_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The backbone's layer list: the nn.ModuleList whose length is config.num_hidden_layers."""
    count = model.config.num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return name, module
    raise ConfigError(f"`adapter.backbone`: found no list of {count} layers in {type(model).__name__}.")


def ffn_output(layer: nn.Module) -> tuple[str, nn.Module]:
    """(family, module) of a layer's FFN output projection: 'encoder' for BERT-like, 'decoder' for Llama-like."""
    for path, family in FFN_OUTPUTS.items():
        try:
            return family, layer.get_submodule(path)
        except AttributeError:
            continue
    raise ConfigError(
        f"`adapter.backbone`: layer {type(layer).__name__} has none of the known FFN outputs {sorted(FFN_OUTPUTS)}."
    )


class KnowledgeInjector:
    """Forward hooks on the FFN outputs of the adapted layers; they act only inside `feeding(state)`."""

    def __init__(self, layers: nn.ModuleList, indices: list[int]):
        self.state: KnowledgeState | None = None
        self.handles = [ffn_output(layers[i])[1].register_forward_hook(self._hook) for i in indices]

    @contextmanager
    def feeding(self, state: KnowledgeState | None) -> Iterator[None]:
        self.state = state
        try:
            yield
        finally:
            self.state = None

    def _hook(self, module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor | None:
        state = self.state
        if state is None:
            return None  # no knowledge this forward: the layer is untouched
        dtype = state.stream.dtype
        c, state.stream = state.adapter(output.to(dtype), state.stream, state.token_mask, state.stream_mask)
        return output + c.to(output.dtype)

    def remove(self) -> None:
        """Detach every hook: the backbone computes exactly what it did before."""
        for handle in self.handles:
            handle.remove()
        self.handles = []
