"""Batch evaluation: deterministic, resumable runs with metrics, plots, ablations and parallel engines."""

import importlib

from kqa.evaluation.config import EvaluationConfig
from kqa.evaluation.converters import FORMATS, EvalSet, detect_format, load_set

# the rest imports torch (through the pipeline): loaded on first use so `kqa --help` stays fast
_LAZY = {"Evaluator": "runner", "EvalReport": "results", "Comparison": "compare", "CompareReport": "results",
         "PipelineSpec": "answering", "evaluate": "cli", "eval_command": "cli"}

__all__ = ["FORMATS", "CompareReport", "Comparison", "EvalReport", "EvalSet", "EvaluationConfig", "Evaluator",
           "PipelineSpec", "detect_format", "eval_command", "evaluate", "load_set"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"kqa.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'kqa.evaluation' has no attribute {name!r}")
