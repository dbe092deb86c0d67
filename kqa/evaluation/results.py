"""What an evaluation hands from stage to stage, as frozen dataclasses: the metrics of a run, the paired statistics of
two runs (shared by `kqa eval --compare` and kqa.evaluation.lift), the questions that flipped, and the two reports.

`to_dict()` is the JSON that metrics.json, compare.json, flips.jsonl and `--json` hold: their keys are a format users'
scripts read, so they stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

from kqa.evaluation.records import EvalRecord


def jsonable(value):
    """Dataclasses as dicts (in field order) and tuples as lists, recursively: the value json.dumps writes."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ConceptAccuracy:
    concept: str
    n: int
    accuracy: float


@dataclass(frozen=True)
class LinkedAccuracy:
    linked: str  # number of concepts linked in the question; the last bucket pools the rest ("5+")
    n: int
    accuracy: float


@dataclass(frozen=True)
class PositionConfusion:
    positions: tuple[int, ...]  # 0 = first choice
    matrix: tuple[tuple[int, ...], ...]  # rows: gold position, columns: predicted position (labelled questions)
    predicted_share: tuple[float, ...]  # each position's share of all answers
    gold_share: tuple[float, ...]  # each position's share of the gold answers


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    n: int
    confidence: float | None  # mean confidence of the bin's answers; None when the bin is empty
    accuracy: float | None


@dataclass(frozen=True)
class Calibration:
    bins: tuple[CalibrationBin, ...]
    ece: float  # expected calibration error


@dataclass(frozen=True)
class Summary:
    """The metrics of a collection of prediction records (kqa.evaluation.metrics.summarize). Without answer keys the
    accuracy-type fields stay None or empty, and to_dict() leaves out all but `accuracy` and `accuracy_ci95`."""

    n: int
    labelled: int  # records with an answer key
    retrieval: bool  # whether a retriever ran (some record has linked concepts)
    facts_per_question: float  # distinct facts, mean over questions
    position: PositionConfusion
    accuracy: float | None = None
    accuracy_ci95: tuple[float, float] | None = None  # bootstrap percentile interval
    correct: int | None = None
    by_concept: tuple[ConceptAccuracy, ...] = ()  # the most frequent question concepts first
    by_linked_concepts: tuple[LinkedAccuracy, ...] = ()
    calibration: Calibration | None = None
    coverage: float | None = None  # share whose gold choice has a fact on a graph path; None without retrieval

    def to_dict(self) -> dict:
        out = jsonable(self)
        if not self.labelled:
            for name in ("correct", "by_concept", "by_linked_concepts", "calibration", "coverage"):
                del out[name]
        return out


@dataclass(frozen=True)
class Timing:
    answered: int  # questions answered by this run (the rest came from --resume)
    wall_s: float
    questions_per_s: float
    workers: int
    engine: str
    threads: int | None


@dataclass(frozen=True)
class RunMetrics:
    """metrics.json of one run: `overall` over every question, `by_source` per set (two sets or more), how it ran."""

    overall: Summary
    model: str
    variant: str
    skipped: int  # invalid records skipped (--skip-invalid)
    skipped_examples: tuple[str, ...]  # why, for the first 10
    timing: Timing
    by_source: Mapping[str, Summary] | None = None

    def to_dict(self) -> dict:
        out = self.overall.to_dict() | {"model": self.model, "variant": self.variant, "skipped": self.skipped,
                                        "skipped_examples": list(self.skipped_examples),
                                        "timing": jsonable(self.timing)}
        if self.by_source is not None:
            out["by_source"] = {name: summary.to_dict() for name, summary in self.by_source.items()}
        return out


@dataclass(frozen=True)
class PairedStats:
    """Two runs on the same questions, compared question by question (kqa.evaluation.metrics.paired_stats)."""

    a: str
    b: str
    n: int
    difference: float  # accuracy(a) - accuracy(b)
    ci95: tuple[float, float]  # paired bootstrap over questions
    a_only: int  # questions only a answers correctly
    b_only: int
    mcnemar_p: float  # exact McNemar test of a_only against b_only

    def to_dict(self) -> dict:
        return jsonable(self)


@dataclass(frozen=True)
class Flip:
    """A question that one run of a pair answered correctly and the other did not (a line of flips.jsonl)."""

    pair: str  # "a - b"
    id: str
    source: str
    gold: str
    a: str
    b: str
    a_predicted: str
    b_predicted: str
    a_correct: bool
    facts: tuple[str, ...]  # the facts run a read, best first
    b_facts: tuple[str, ...]

    def to_dict(self) -> dict:
        return jsonable(self)


@dataclass(frozen=True)
class EvalReport:
    model: str
    sources: tuple[str, ...]
    metrics: RunMetrics = field(repr=False)  # what metrics.json holds
    answered: int  # questions answered by this run (the rest came from --resume)
    wall_s: float
    out_dir: str | None = None
    records: tuple[EvalRecord, ...] = field(default=(), repr=False)  # in input order, as predictions.jsonl has them

    @property
    def n(self) -> int:
        return self.metrics.overall.n

    @property
    def accuracy(self) -> float | None:
        return self.metrics.overall.accuracy

    def to_dict(self) -> dict:
        return {"model": self.model, "sources": list(self.sources), "out_dir": self.out_dir, "answered": self.answered,
                "wall_s": self.wall_s} | self.metrics.to_dict()

    def table(self) -> str:
        """The short human-readable summary; the accuracy line comes last."""
        m, o = self.metrics, self.metrics.overall
        rows = [("data", ", ".join(self.sources)), ("model", self.model),
                ("questions", f"{o.n} ({m.skipped} invalid skipped)" if m.skipped else str(o.n)),
                ("questions/s", f"{m.timing.questions_per_s:.2f} ({self.answered} answered this run)")]
        if o.coverage is not None:
            rows.append(("retrieval coverage", f"{o.coverage:.3f}"))
        if o.calibration is not None:
            rows.append(("ECE", f"{o.calibration.ece:.4f}"))
        if self.out_dir:
            rows.append(("report", str(Path(self.out_dir) / "report.md")))
        if o.accuracy is None:
            rows.append(("accuracy", "n/a (no answer keys)"))
        else:
            low, high = o.accuracy_ci95
            rows.append(("accuracy", f"{o.accuracy:.4f} ({o.correct}/{o.labelled}), 95% CI [{low:.4f}, {high:.4f}]"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


@dataclass(frozen=True)
class CompareReport:
    sources: tuple[str, ...]
    variants: Mapping[str, RunMetrics] = field(repr=False)  # name -> metrics of that variant
    pairs: tuple[PairedStats, ...] = field(repr=False)
    flips: tuple[Flip, ...] = field(repr=False)  # of the first pair (with - control)
    out_dir: str

    def to_dict(self) -> dict:
        variants = {name: {"n": m.overall.n, "accuracy": m.overall.accuracy,
                           "accuracy_ci95": jsonable(m.overall.accuracy_ci95),
                           "facts_per_question": m.overall.facts_per_question} for name, m in self.variants.items()}
        return {"sources": list(self.sources), "out_dir": self.out_dir, "pairs": [p.to_dict() for p in self.pairs],
                "variants": variants, "flips": len(self.flips)}

    def summary(self) -> dict:
        """What compare.json holds: to_dict() with every variant's whole metrics.json."""
        return self.to_dict() | {"variants": {name: m.to_dict() for name, m in self.variants.items()}}

    def table(self) -> str:
        lines = [f"{'variant':<12} {'n':>6}  accuracy"]
        for name, m in self.variants.items():
            acc = "n/a" if m.overall.accuracy is None else f"{m.overall.accuracy:.4f}"
            lines.append(f"{name:<12} {m.overall.n:>6}  {acc}")
        for p in self.pairs:
            lines.append(f"{p.a + ' - ' + p.b:<20} {p.difference:+.4f} "
                         f"[{p.ci95[0]:+.4f}, {p.ci95[1]:+.4f}]  McNemar p={p.mcnemar_p:.4g}")
        lines.append(f"report: {Path(self.out_dir) / 'report.md'}")
        return "\n".join(lines)
