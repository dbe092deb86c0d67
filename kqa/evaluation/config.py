"""Options of one evaluation run (the `kqa eval` flags that are not paths), validated like a pipeline section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk: int = Field(8, gt=0, description="Questions answered (and fsync'ed to predictions.jsonl) per step.")
    workers: int = Field(1, gt=0, description="Processes (local engine) or Ray actors answering chunks.")
    engine: Literal["local", "ray"] = Field("local", description="local: multiprocessing 'spawn'; ray: Ray Data.")
    threads: int | None = Field(
        None, gt=0, description="torch threads per scoring process; None: cores // workers. Float results depend on "
        "it, so pin it (e.g. 1) for predictions byte-identical across different --workers or engines.")
    resume: bool = Field(False, description="Keep the predictions already in OUT and answer only the others.")
    bootstrap: int = Field(2000, ge=100, description="Bootstrap resamples for confidence intervals.")
    seed: int = Field(0, description="Seed of the bootstrap generator and of the control derangement.")
    bins: int = Field(10, ge=2, description="Equal-width confidence bins of the reliability diagram.")
    top_concepts: int = Field(20, gt=0, description="Question concepts listed in the per-concept accuracy.")
    decimals: int = Field(6, ge=1, le=12, description="Floats in predictions.jsonl are rounded to this many places.")
    progress: bool = Field(True, description="Show a progress bar (questions/s and ETA) on stderr.")
