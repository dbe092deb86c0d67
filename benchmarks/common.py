"""Helpers shared by the benchmarks: timing, peak memory, and writing results JSON."""

from __future__ import annotations

import json
import platform
import resource
import time
from contextlib import contextmanager
from pathlib import Path

from kqa.models import cpu_kernels

RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timer(out: dict, key: str):
    began = time.perf_counter()
    yield
    out[key] = round(time.perf_counter() - began, 4)


def write_result(name: str, result: dict) -> Path:
    """Write benchmarks/results/NAME.json with the machine facts that make numbers comparable."""
    import torch

    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "python": platform.python_version(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "machine": platform.machine(),
               # trainings with AVX2 and AVX-512 kernels end a few answers apart: results say which made them
               "cpu_capability": cpu_kernels(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload, indent=2))
    return path
