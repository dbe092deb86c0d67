"""--compare: the same questions with knowledge, without, and with a matched control (and optionally a second
pipeline); paired differences with an exact McNemar test and a paired bootstrap, and the questions that flipped."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kqa.errors import ConfigError
from kqa.evaluation.answering import PipelineSpec, variant_pipeline
from kqa.evaluation.config import EvaluationConfig
from kqa.evaluation.converters import EvalSet
from kqa.evaluation.runner import Evaluator, read_records, tagged_questions
from kqa.pipeline import KQAPipeline

PAIRS = (("with", "control"), ("with", "without"), ("control", "without"))


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p: a binomial(n = discordant pairs, 1/2) test of the smaller count."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    try:
        from scipy.stats import binom

        tail = float(binom.cdf(k, n, 0.5))
    except ImportError:
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(a: Sequence[bool], b: Sequence[bool], samples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(mean(a) - mean(b), low, high): 95% percentile interval, resampling questions (pairs stay together)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size != y.size or x.size == 0:
        raise ValueError(f"paired_bootstrap needs two equally long non-empty vectors, got {x.size} and {y.size}")
    rng = np.random.default_rng(seed)
    diffs = (x - y)[rng.integers(0, x.size, size=(samples, x.size))].mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(x.mean() - y.mean()), float(low), float(high)


def paired(a_name: str, a: list[dict], b_name: str, b: list[dict], samples: int, seed: int) -> tuple[dict, list[dict]]:
    """Paired statistics of two runs over the same records (in the same order), and the flips, A's facts attached."""
    rows = [(x, y) for x, y in zip(a, b) if x["gold"] is not None]
    ca, cb = [bool(x["correct"]) for x, _ in rows], [bool(y["correct"]) for _, y in rows]
    a_only = sum(p and not q for p, q in zip(ca, cb))
    b_only = sum(q and not p for p, q in zip(ca, cb))
    diff, low, high = paired_bootstrap(ca, cb, samples, seed)
    stats = {"a": a_name, "b": b_name, "n": len(rows), "difference": diff, "ci95": [low, high],
             "a_only": a_only, "b_only": b_only, "mcnemar_p": mcnemar_exact(a_only, b_only)}
    flips = [{"pair": f"{a_name} - {b_name}", "id": x["id"], "source": x["source"], "gold": x["gold"],
              "a": a_name, "b": b_name, "a_predicted": x["predicted"], "b_predicted": y["predicted"],
              "a_correct": bool(x["correct"]), "facts": _facts(x), "b_facts": _facts(y)}
             for x, y in rows if bool(x["correct"]) != bool(y["correct"])]
    return stats, flips


def _facts(record: dict) -> list[str]:
    best: dict[str, float] = {}
    for c in record["choices"]:
        for f in c["evidence"]:
            best[f["text"]] = max(best.get(f["text"], -math.inf), f["score"])
    return [t for t, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))]


@dataclass(frozen=True)
class CompareReport:
    sources: tuple[str, ...]
    variants: dict = field(repr=False)  # name -> metrics of that variant
    pairs: list = field(repr=False)
    flips: list = field(repr=False)  # of the first pair (with - control)
    out_dir: str

    def to_dict(self) -> dict:
        return {"sources": list(self.sources), "out_dir": self.out_dir, "pairs": self.pairs,
                "variants": {k: {"n": m["n"], "accuracy": m["accuracy"], "accuracy_ci95": m["accuracy_ci95"],
                                 "facts_per_question": m["facts_per_question"]} for k, m in self.variants.items()},
                "flips": len(self.flips)}

    def table(self) -> str:
        lines = [f"{'variant':<12} {'n':>6}  accuracy"]
        for name, m in self.variants.items():
            acc = "n/a" if m["accuracy"] is None else f"{m['accuracy']:.4f}"
            lines.append(f"{name:<12} {m['n']:>6}  {acc}")
        for p in self.pairs:
            lines.append(f"{p['a'] + ' - ' + p['b']:<20} {p['difference']:+.4f} "
                         f"[{p['ci95'][0]:+.4f}, {p['ci95'][1]:+.4f}]  McNemar p={p['mcnemar_p']:.4g}")
        lines.append(f"report: {Path(self.out_dir) / 'report.md'}")
        return "\n".join(lines)


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
        records: dict[str, list[dict]] = {}
        metrics: dict[str, dict] = {}
        for name, source in self._variants(universe):
            folder = self.out_dir / "variants" / name
            metrics[name] = Evaluator(source, folder, self.config, name=name).run(sets).metrics
            records[name] = read_records(folder / "predictions.jsonl")
        pairs, flips = [], []
        names = list(PAIRS) + ([("with", self.other_name)] if self.other is not None else [])
        for a, b in names:
            if metrics[a]["labelled"]:
                stats, flipped = paired(a, records[a], b, records[b], self.config.bootstrap, self.config.seed)
                pairs.append(stats)
                flips.extend(flipped)
        report = CompareReport(tuple(s.name for s in sets), metrics, pairs,
                               [f for f in flips if f["pair"] == "with - control"], str(self.out_dir))
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

    def _write(self, report: CompareReport, flips: list[dict]) -> None:
        from kqa.evaluation.report import ReportWriter

        summary = report.to_dict() | {"variants": report.variants}
        for name in ("compare.json", "metrics.json"):
            (self.out_dir / name).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        with (self.out_dir / "flips.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(f, sort_keys=True) + "\n" for f in flips)
        ReportWriter(self.out_dir).run(report)
