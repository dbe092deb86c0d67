"""--compare: the same questions with knowledge, without, and with a matched control (and optionally a second
pipeline); paired differences with an exact McNemar test and a paired bootstrap, and the questions that flipped."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

from kqa.errors import ConfigError
from kqa.evaluation.answering import PipelineSpec, variant_pipeline
from kqa.evaluation.config import EvaluationConfig
from kqa.evaluation.converters import EvalSet
from kqa.evaluation.metrics import paired_stats
from kqa.evaluation.records import EvalRecord
from kqa.evaluation.results import CompareReport, Flip, PairedStats
from kqa.evaluation.runner import Evaluator, tagged_questions
from kqa.pipeline import KQAPipeline

PAIRS = (("with", "control"), ("with", "without"), ("control", "without"))


def paired(a_name: str, a: Sequence[EvalRecord], b_name: str, b: Sequence[EvalRecord], samples: int,
           seed: int) -> tuple[PairedStats, list[Flip]]:
    """Paired statistics of two runs over the same records (in the same order), and the flips, A's facts attached."""
    rows = [(x, y) for x, y in zip(a, b) if x.gold is not None]
    stats = paired_stats(a_name, [bool(x.correct) for x, _ in rows], b_name, [bool(y.correct) for _, y in rows],
                         samples, seed)
    flips = [Flip(f"{a_name} - {b_name}", x.id, x.source, x.gold, a_name, b_name, x.predicted, y.predicted,
                  bool(x.correct), _facts(x), _facts(y))
             for x, y in rows if bool(x.correct) != bool(y.correct)]
    return stats, flips


def _facts(record: EvalRecord) -> tuple[str, ...]:
    best: dict[str, float] = {}
    for f in record.prediction.evidence:
        best[f.text] = max(best.get(f.text, -math.inf), f.score)
    return tuple(t for t, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])))


class Comparison:
    """Run the ablation into OUT/variants/<name>/ and write OUT/compare.json, OUT/flips.jsonl and OUT/report.md."""

    def __init__(self, pipeline: KQAPipeline | PipelineSpec, out_dir: str | Path,
                 config: EvaluationConfig = EvaluationConfig(), other: KQAPipeline | PipelineSpec | None = None,
                 other_name: str = "pipeline2"):
        self.pipeline, self.other, self.other_name = pipeline, other, other_name
        self.out_dir = Path(out_dir)
        self.config = config

    def run(self, sets: Sequence[EvalSet]) -> CompareReport:
        universe = [q for _, q in tagged_questions(sets)]
        if len(universe) < 2:
            raise ConfigError(f"--compare needs at least 2 questions for the control derangement, got {len(universe)}.")
        runs = {name: Evaluator(source, self.out_dir / "variants" / name, self.config, name=name).run(sets)
                for name, source in self._variants(universe)}
        pairs, flips = [], []
        names = list(PAIRS) + ([("with", self.other_name)] if self.other is not None else [])
        for a, b in names:
            if runs[a].metrics.overall.labelled:
                stats, flipped = paired(a, runs[a].records, b, runs[b].records, self.config.bootstrap, self.config.seed)
                pairs.append(stats)
                flips.extend(flipped)
        report = CompareReport(tuple(s.name for s in sets), {name: run.metrics for name, run in runs.items()},
                               tuple(pairs), tuple(f for f in flips if f.pair == "with - control"), str(self.out_dir))
        self._write(report, flips)
        return report

    def _variants(self, universe) -> list[tuple[str, KQAPipeline | PipelineSpec]]:
        base = self.pipeline
        if isinstance(base, KQAPipeline) and (self.config.workers > 1 or self.config.engine == "ray"):
            base = PipelineSpec(base.config, control_seed=self.config.seed)
        if isinstance(base, PipelineSpec):
            if not base.config.graph.path:
                raise ConfigError("--compare needs a pipeline with knowledge: set `graph.path` or pass --graph.")
            out = [(v, dataclasses.replace(base, variant=v)) for v in ("with", "without", "control")]
        else:
            out = [(v, variant_pipeline(base, v, universe, self.config.seed)) for v in ("with", "without", "control")]
        if self.other is not None:
            out.append((self.other_name, self.other))
        return out

    def _write(self, report: CompareReport, flips: list[Flip]) -> None:
        from kqa.evaluation.report import ReportWriter

        summary = report.summary()
        for name in ("compare.json", "metrics.json"):
            (self.out_dir / name).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        with (self.out_dir / "flips.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(f.to_dict(), sort_keys=True) + "\n" for f in flips)
        ReportWriter(self.out_dir).run(report)
