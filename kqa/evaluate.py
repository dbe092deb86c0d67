"""Batch evaluation: answer a question set, write predictions.jsonl and metrics.json, return an EvalReport."""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kqa.pipeline import KQAPipeline
from kqa.types import LoadResult, Prediction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalReport:
    accuracy: float
    n: int
    correct: int
    model: str
    source: str
    scoring: str
    seconds_per_question: float
    wall_s: float
    peak_rss_mb: float
    skipped: int

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """The short human-readable table `make demo` prints; the accuracy line comes last."""
        rows = [
            ("data", self.source),
            ("model", self.model),
            ("scoring", self.scoring),
            ("questions", str(self.n) + (f" ({self.skipped} invalid skipped)" if self.skipped else "")),
            ("seconds/question", f"{self.seconds_per_question:.3f}"),
            ("peak RSS", f"{self.peak_rss_mb:.0f} MB"),
            ("accuracy", f"{self.accuracy:.4f} ({self.correct}/{self.n})"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


class Evaluator:
    """Run a pipeline over loaded questions and summarise the result."""

    def __init__(self, pipeline: KQAPipeline, out_dir: str | Path | None = None, progress: bool = True):
        self.pipeline = pipeline
        self.out_dir = Path(out_dir) if out_dir else None
        self.progress = progress

    def run(self, loaded: LoadResult, source: str) -> EvalReport:
        questions = loaded.questions
        began = time.perf_counter()
        predictions = self.pipeline.answer_batch(questions, progress=self.progress)
        wall = time.perf_counter() - began
        correct = sum(bool(p.correct) for p in predictions)
        report = EvalReport(
            accuracy=correct / len(predictions) if predictions else 0.0,
            n=len(predictions),
            correct=correct,
            model=self.pipeline.model_name,
            source=source,
            scoring=self.pipeline.config.scorer.mode,
            seconds_per_question=wall / max(len(predictions), 1),
            wall_s=wall,
            peak_rss_mb=peak_rss_mb(),
            skipped=len(loaded.skipped),
        )
        if self.out_dir:
            self._write(predictions, report)
        return report

    def _write(self, predictions: list[Prediction], report: EvalReport) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with (self.out_dir / "predictions.jsonl").open("w", encoding="utf-8") as handle:
            for prediction in predictions:
                handle.write(json.dumps(prediction.to_dict(), sort_keys=True) + "\n")
        metrics = report.to_dict() | {"python": platform.python_version(), "cpus": os.cpu_count()}
        (self.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        logger.info("wrote %s", self.out_dir)


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
