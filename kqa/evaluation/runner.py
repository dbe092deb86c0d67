"""Evaluator: run question sets through a pipeline, log predictions as they come, then write metrics and a report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from kqa.errors import InputError
from kqa.evaluation.answering import Answered, PipelineSpec
from kqa.evaluation.config import EvaluationConfig
from kqa.evaluation.converters import EvalSet
from kqa.evaluation.engines import InProcessEngine, ProcessPoolEngine, RayEngine
from kqa.evaluation.metrics import summarize
from kqa.evaluation.records import EvalRecord
from kqa.evaluation.results import EvalReport, RunMetrics, Summary, Timing
from kqa.evaluation.store import PredictionLog, check_fingerprint, key
from kqa.pipeline import KQAPipeline
from kqa.types import LoadResult, Question

logger = logging.getLogger(__name__)


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
                            str(self.out_dir) if self.out_dir else None, tuple(records))
        if self.out_dir:
            (self.out_dir / "metrics.json").write_text(json.dumps(metrics.to_dict(), indent=2, sort_keys=True) + "\n",
                                                      encoding="utf-8")
            if self.report:
                from kqa.evaluation.report import ReportWriter

                ReportWriter(self.out_dir).run(report)
        return report

    def _start(self, log: PredictionLog | None, sets: Sequence[EvalSet]) -> dict[tuple[str, str], EvalRecord]:
        """The records a resumed log already holds, by (source, id); none without --resume."""
        if log is None:
            return {}
        check_fingerprint(self.out_dir / "run.json", self._fingerprint(sets), self.config.resume)
        if not self.config.resume:
            (self.out_dir / "timings.jsonl").write_bytes(b"")
        return {k: EvalRecord.from_dict(record) for k, record in log.open(self.config.resume).items()}

    def _answer(self, todo: list[tuple[str, Question]], universe: list[Question],
                log: PredictionLog | None) -> dict[tuple[str, str], EvalRecord]:
        """Answer `todo` chunk by chunk, logging each chunk before the next; returns the new records by key."""
        out: dict[tuple[str, str], EvalRecord] = {}
        source_of = {q.id: s for s, q in todo}
        concept_of = {q.id: q.concept for _, q in todo}
        bar = tqdm(total=len(todo), desc=self._variant(), unit="q", disable=not self.config.progress or not todo)
        for answered in self._engine(universe).run([q for _, q in todo], self.config.chunk):
            records = [self._record(a, source_of[a.prediction.question_id], concept_of[a.prediction.question_id])
                       for a in answered]
            if log:
                log.append([r.to_dict() for r in records])
                _append_timings(self.out_dir / "timings.jsonl", answered, source_of)
            out.update((r.key, r) for r in records)
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

    def _record(self, answered: Answered, source: str, concept: str | None) -> EvalRecord:
        # as logged: floats rounded, no latency (timings.jsonl has it), so reruns write the same bytes
        return EvalRecord(answered.prediction, source, concept, answered.linked).rounded(self.config.decimals)

    def _finish(self, log: PredictionLog | None, tagged: list[tuple[str, Question]],
                records: dict[tuple[str, str], EvalRecord]) -> list[EvalRecord]:
        """Records in input order; a resumed log holding other questions or another order is rewritten to match."""
        ordered = [records[(s, q.id)] for s, q in tagged]
        if log and _logged_keys(log.path) != [r.key for r in ordered]:
            log.rewrite([r.to_dict() for r in ordered])
        return ordered

    def _metrics(self, records: list[EvalRecord], sets: Sequence[EvalSet], answered: int, wall: float) -> RunMetrics:
        c = self.config

        def summary(part: list[EvalRecord]) -> Summary:
            return summarize(part, samples=c.bootstrap, seed=c.seed, bins=c.bins, top=c.top_concepts)

        timing = Timing(answered, round(wall, 3), answered / wall if wall > 0 else 0.0, c.workers, c.engine, c.threads)
        by_source = None
        if len(sets) > 1:
            by_source = {s.name: summary([r for r in records if r.source == s.name]) for s in sets}
        return RunMetrics(summary(records), self._model_name(), self._variant(), sum(len(s.skipped) for s in sets),
                          tuple(m for s in sets for m in s.skipped)[:10], timing, by_source)

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


def _logged_keys(path: Path) -> list[tuple[str, str]]:
    """(source, id) of every line of a predictions.jsonl, in file order."""
    with path.open(encoding="utf-8") as handle:
        return [key(json.loads(line)) for line in handle if line.strip()]
