"""Engines answer chunks of questions and yield them back in input order, chunk by chunk.

- `InProcessEngine`: the given pipeline, in this process (tests pass fakes through it);
- `ProcessPoolEngine`: N processes started with 'spawn', each building its own pipeline (model loaded once per worker);
- `RayEngine`: Ray Data `map_batches` with a callable class that builds the pipeline once per actor (extra [dist]).

Every engine cuts the questions into the same chunks, so batched scoring sees the same batches whatever the engine or
the number of workers, and predictions are identical.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence

from kqa.errors import ModelUnavailableError
from kqa.evaluation.answering import Answered, ChunkAnswerer, PipelineSpec
from kqa.pipeline import KQAPipeline
from kqa.types import Question


def chunks(questions: Sequence[Question], size: int) -> list[list[Question]]:
    return [list(questions[i : i + size]) for i in range(0, len(questions), size)]


def threads_per_worker(threads: int | None, workers: int) -> int:
    """torch threads each scoring process uses: pinned, or the cores shared out among the workers."""
    return threads or max(1, (os.cpu_count() or 1) // workers)


class InProcessEngine:
    def __init__(self, pipeline: KQAPipeline, threads: int | None = None):
        self.answerer = ChunkAnswerer(pipeline)
        self.threads = threads

    def run(self, questions: Sequence[Question], chunk: int) -> Iterator[list[Answered]]:
        import torch

        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            for part in chunks(questions, chunk):
                yield self.answerer.run(part)
        finally:
            torch.set_num_threads(previous)


# ---- local processes -------------------------------------------------------------------------------------------
_WORKER: ChunkAnswerer | None = None


def _init_worker(spec: PipelineSpec, universe: tuple[Question, ...], threads: int) -> None:
    import torch

    global _WORKER
    torch.set_num_threads(threads)  # N workers share the cores instead of each taking all of them
    pipeline = spec.build(universe)
    pipeline.reader.warm_up()
    _WORKER = ChunkAnswerer(pipeline)


def _answer_chunk(part: list[Question]) -> list[Answered]:
    return _WORKER.run(part)


class ProcessPoolEngine:
    def __init__(self, spec: PipelineSpec, universe: Sequence[Question], workers: int, threads: int | None = None):
        self.spec, self.universe, self.workers, self.threads = spec, tuple(universe), workers, threads

    def run(self, questions: Sequence[Question], chunk: int) -> Iterator[list[Answered]]:
        import multiprocessing as mp

        parts = chunks(questions, chunk)
        if not parts:
            return
        workers = min(self.workers, len(parts))
        threads = threads_per_worker(self.threads, workers)
        context = mp.get_context("spawn")
        with context.Pool(workers, _init_worker, (self.spec, self.universe, threads)) as pool:
            yield from pool.imap(_answer_chunk, parts)  # imap keeps input order; workers run ahead meanwhile


# ---- Ray Data --------------------------------------------------------------------------------------------------
class RayChunkAnswerer:
    """Ray Data callable class: the pipeline is built once per actor, in __init__, then answers chunk after chunk."""

    def __init__(self, spec: PipelineSpec, universe: bytes, threads: int):
        import torch

        torch.set_num_threads(threads)
        pipeline = spec.build(pickle.loads(universe))
        pipeline.reader.warm_up()
        self.answerer = ChunkAnswerer(pipeline)

    def __call__(self, batch: dict) -> dict:
        answered = [pickle.dumps(self.answerer.run(pickle.loads(blob))) for blob in batch["chunk"]]
        return {"index": list(batch["index"]), "answered": answered}


class RayEngine:
    """One row per chunk (batch_size=1), so an actor scores exactly the chunks the other engines score."""

    def __init__(self, spec: PipelineSpec, universe: Sequence[Question], workers: int, threads: int | None = None):
        self.spec, self.universe, self.workers, self.threads = spec, tuple(universe), workers, threads

    def run(self, questions: Sequence[Question], chunk: int) -> Iterator[list[Answered]]:
        try:
            import ray
            import ray.data
        except ImportError:
            raise ModelUnavailableError("--engine ray needs Ray Data. Fix: pip install 'kqa[dist]'") from None
        parts = chunks(questions, chunk)
        if not parts:
            return
        if not ray.is_initialized():
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        rows = [{"index": k, "chunk": pickle.dumps(part)} for k, part in enumerate(parts)]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            RayChunkAnswerer, batch_size=1, concurrency=self.workers, num_cpus=1, batch_format="default",
            fn_constructor_kwargs={"spec": self.spec, "universe": pickle.dumps(self.universe),
                                   "threads": threads_per_worker(self.threads, self.workers)},
        )
        pending: dict[int, list[Answered]] = {}
        emitted = 0
        for batch in dataset.iter_batches(batch_size=1, batch_format="default"):
            for index, blob in zip(batch["index"], batch["answered"]):
                pending[int(index)] = pickle.loads(blob)
            while emitted in pending:  # hand back chunks in input order, whatever order they arrive in
                yield pending.pop(emitted)
                emitted += 1
