"""Evaluator: run question sets through a pipeline, log predictions as they come, then write metrics and a report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from kqa.errors import InputError
from kqa.evaluation.answering import Answered, PipelineSpec
from kqa.evaluation.config import EvaluationConfig
from kqa.evaluation.converters import EvalSet
from kqa.evaluation.engines import InProcessEngine, ProcessPoolEngine, RayEngine
from kqa.evaluation.metrics import summarize
from kqa.evaluation.store import PredictionLog, check_fingerprint, key, rounded
from kqa.pipeline import KQAPipeline
from kqa.types import LoadResult, Question

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalReport:
    model: str
    sources: tuple[str, ...]
    metrics: dict = field(repr=False)  # what metrics.json holds
    answered: int  # questions answered by this run (the rest came from --resume)
    wall_s: float
    out_dir: str | None = None

    @property
    def n(self) -> int:
        return self.metrics["n"]

    @property
    def accuracy(self) -> float | None:
        return self.metrics["accuracy"]

    def to_dict(self) -> dict:
        return {"model": self.model, "sources": list(self.sources), "out_dir": self.out_dir, "answered": self.answered,
                "wall_s": self.wall_s} | self.metrics

    def table(self) -> str:
        """The short human-readable summary; the accuracy line comes last."""
        m = self.metrics
        rows = [("data", ", ".join(self.sources)), ("model", self.model),
                ("questions", f"{m['n']} ({m['skipped']} invalid skipped)" if m["skipped"] else str(m["n"])),
                ("questions/s", f"{m['timing']['questions_per_s']:.2f} ({self.answered} answered this run)")]
        if m.get("coverage") is not None:
            rows.append(("retrieval coverage", f"{m['coverage']:.3f}"))
        if m.get("calibration"):
            rows.append(("ECE", f"{m['calibration']['ece']:.4f}"))
        if self.out_dir:
            rows.append(("report", str(Path(self.out_dir) / "report.md")))
        if m["accuracy"] is None:
            rows.append(("accuracy", "n/a (no answer keys)"))
        else:
            low, high = m["accuracy_ci95"]
            rows.append(("accuracy", f"{m['accuracy']:.4f} ({m['correct']}/{m['labelled']}), 95% CI [{low:.4f}, {high:.4f}]"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


class Evaluator:
    """Answer every question of one or more sets; with `out_dir`, write predictions.jsonl, metrics.json, report.md.

    `pipeline` is a built KQAPipeline (answered in this process when workers == 1) or a PipelineSpec; with
    workers > 1 or the Ray engine each process builds its own pipeline from the spec (or from the pipeline's config).
    """

    def __init__(self, pipeline: KQAPipeline | PipelineSpec, out_dir: str | Path | None = None,
                 config: EvaluationConfig = EvaluationConfig(), *, progress: bool | None = None, report: bool = True,
                 name: str | None = None):
        self.pipeline = pipeline
        self.name = name  # the variant's name in bars, run.json and metrics ("with", "control", ...)
        self.out_dir = Path(out_dir) if out_dir else None
        self.config = config if progress is None else config.model_copy(update={"progress": progress})
        self.report = report

    def run(self, sets: Sequence[EvalSet] | LoadResult, source: str = "data") -> EvalReport:
        if isinstance(sets, LoadResult):
            sets = [EvalSet(source, sets.questions, sets.skipped)]
        tagged = tagged_questions(sets)
        questions = [q for _, q in tagged]
        log = PredictionLog(self.out_dir / "predictions.jsonl") if self.out_dir else None
        done = self._start(log, sets)
        todo = _unfinished_chunks(tagged, done, self.config.chunk)
        began = time.perf_counter()
        fresh = self._answer(todo, questions, log)
        wall = time.perf_counter() - began
        records = self._finish(log, tagged, done | fresh)
        metrics = self._metrics(records, sets, len(todo), wall)
        report = EvalReport(self._model_name(), tuple(s.name for s in sets), metrics, len(todo), wall,
                            str(self.out_dir) if self.out_dir else None)
        if self.out_dir:
            (self.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n",
                                                      encoding="utf-8")
            if self.report:
                from kqa.evaluation.report import ReportWriter

                ReportWriter(self.out_dir).run(report)
        return report

    def _start(self, log: PredictionLog | None, sets: Sequence[EvalSet]) -> dict:
        if log is None:
            return {}
        check_fingerprint(self.out_dir / "run.json", self._fingerprint(sets), self.config.resume)
        if not self.config.resume:
            (self.out_dir / "timings.jsonl").write_bytes(b"")
        return log.open(self.config.resume)

    def _answer(self, todo: list[tuple[str, Question]], universe: list[Question], log: PredictionLog | None) -> dict:
        """Answer `todo` chunk by chunk, logging each chunk before the next; returns the new records by key."""
        out: dict = {}
        source_of = {q.id: s for s, q in todo}
        concept_of = {q.id: q.concept for _, q in todo}
        bar = tqdm(total=len(todo), desc=self._variant(), unit="q", disable=not self.config.progress or not todo)
        for answered in self._engine(universe).run([q for _, q in todo], self.config.chunk):
            records = [self._record(a, source_of[a.prediction.question_id], concept_of[a.prediction.question_id])
                       for a in answered]
            if log:
                log.append(records)
                _append_timings(self.out_dir / "timings.jsonl", answered, source_of)
            out.update((key(r), r) for r in records)
            bar.update(len(records))
        bar.close()
        return out

    def _engine(self, universe: list[Question]):
        spec = self.pipeline
        if self.config.workers == 1 and self.config.engine == "local":
            pipeline = spec.build(universe) if isinstance(spec, PipelineSpec) else spec
            return InProcessEngine(pipeline, self.config.threads)
        if isinstance(spec, KQAPipeline):  # each process rebuilds it from its config (fakes cannot travel)
            spec = PipelineSpec(spec.config, control_seed=self.config.seed)
        if self.config.engine == "ray":
            return RayEngine(spec, universe, self.config.workers, self.config.threads)
        return ProcessPoolEngine(spec, universe, self.config.workers, self.config.threads)

    def _record(self, answered: Answered, source: str, concept: str | None) -> dict:
        record = answered.prediction.to_dict()
        record.pop("latency_s")  # timings.jsonl: predictions.jsonl must be the same bytes on every rerun
        record |= {"source": source, "concept": concept,
                   "linked_concepts": None if answered.linked is None else list(answered.linked)}
        return rounded(record, self.config.decimals)

    def _finish(self, log: PredictionLog | None, tagged: list[tuple[str, Question]], records: dict) -> list[dict]:
        """Records in input order; a resumed log holding other questions or another order is rewritten to match."""
        ordered = [records[(s, q.id)] for s, q in tagged]
        if log and [key(r) for r in read_records(log.path)] != [key(r) for r in ordered]:
            log.rewrite(ordered)
        return ordered

    def _metrics(self, records: list[dict], sets: Sequence[EvalSet], answered: int, wall: float) -> dict:
        c = self.config
        metrics = summarize(records, samples=c.bootstrap, seed=c.seed, bins=c.bins, top=c.top_concepts)
        metrics |= {"model": self._model_name(), "variant": self._variant(),
                    "skipped": sum(len(s.skipped) for s in sets),
                    "skipped_examples": [m for s in sets for m in s.skipped][:10],
                    "timing": {"answered": answered, "wall_s": round(wall, 3),
                               "questions_per_s": answered / wall if wall > 0 else 0.0,
                               "workers": c.workers, "engine": c.engine, "threads": c.threads}}
        if len(sets) > 1:
            metrics["by_source"] = {
                s.name: summarize([r for r in records if r["source"] == s.name], samples=c.bootstrap, seed=c.seed,
                                  bins=c.bins, top=c.top_concepts) for s in sets}
        return metrics

    def _fingerprint(self, sets: Sequence[EvalSet]) -> dict:
        config = self.pipeline.config
        return {"pipeline": config.model_dump(mode="json"), "variant": self._variant(),
                "sources": [s.name for s in sets], "decimals": self.config.decimals}

    def _model_name(self) -> str:
        if isinstance(self.pipeline, PipelineSpec):
            return self.pipeline.config.model.name
        return self.pipeline.model_name

    def _variant(self) -> str:
        if self.name:
            return self.name
        return self.pipeline.variant if isinstance(self.pipeline, PipelineSpec) else "eval"


def tagged_questions(sets: Sequence[EvalSet]) -> list[tuple[str, Question]]:
    """(set name, question) in input order; a question id in two sets would make predictions ambiguous."""
    seen: dict[str, str] = {}
    out = []
    for s in sets:
        for q in s.questions:
            if q.id in seen:
                raise InputError(f"question id {q.id!r} is in both {seen[q.id]} and {s.name}; "
                                 f"evaluate them in separate runs (separate --out).")
            seen[q.id] = s.name
            out.append((s.name, q))
    return out


def _unfinished_chunks(tagged: list[tuple[str, Question]], done: dict, chunk: int) -> list[tuple[str, Question]]:
    """The questions of every chunk not wholly in `done`. A chunk is answered again as a whole (never a part of it)
    so batched scoring sees the very batches of an uninterrupted run and the resumed file has the same bytes."""
    todo = []
    for start in range(0, len(tagged), chunk):
        part = tagged[start : start + chunk]
        if any((s, q.id) not in done for s, q in part):
            todo.extend(part)
    return todo


def _append_timings(path: Path, answered: list[Answered], source_of: dict[str, str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for a in answered:
            p = a.prediction
            handle.write(json.dumps({"id": p.question_id, "source": source_of[p.question_id],
                                     "latency_s": round(p.latency_s, 6)}, sort_keys=True) + "\n")


def read_records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
