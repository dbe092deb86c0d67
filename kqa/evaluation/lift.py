"""The knowledge lift: three readers trained and tested the same way, differing only in the facts they read.

- without: trained and tested with no facts at all;
- facts:   trained and tested with the facts retrieved for each question;
- control: trained and tested with as many facts, in the same places, taken from other questions
           (kqa.retrieval.control.MatchedControlRetriever).

(facts - without) says whether the knowledge helps at all; (facts - control) says whether it is the *content* of
the facts that helps, not a longer input. A reader trained with facts and merely tested without them is not the
baseline: it never learned to answer alone. Both differences come with a paired bootstrap interval and an exact
McNemar p on the same test questions.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from kqa.adapters.config import AdapterConfig, TrainConfig
from kqa.adapters.reader import AdapterReader
from kqa.atomic import atomic_text
from kqa.data import load_mixture
from kqa.errors import ConfigError, InputError
from kqa.evaluation.metrics import bootstrap_ci, paired_stats
from kqa.evaluation.results import PairedStats
from kqa.models import cpu_kernels
from kqa.retrieval.control import MatchedControlRetriever
from kqa.retrieval.paths import RULES_VERSION as PATH_RULES
from kqa.train import Trainer, split_questions
from kqa.types import Evidence, Question

logger = logging.getLogger(__name__)
READERS = ("without", "facts", "control")
PAIRS = (("facts", "without"), ("facts", "control"))


@dataclass(frozen=True)
class ReaderRun:
    """One trained reader's test result; `correct` is aligned with the test questions."""

    name: str
    n: int
    accuracy: float
    ci95: tuple[float, float]
    correct: tuple[bool, ...]
    dev_accuracy: tuple[float, ...]
    adapter_dir: str
    train_seconds: float
    scores: tuple[tuple[float, ...], ...] = ()  # the test logits, one per choice


@dataclass(frozen=True)
class LiftResult:
    readers: tuple[ReaderRun, ...]
    pairs: tuple[PairedStats, ...]
    split: tuple[int, int, int]  # questions in train, dev, test
    test_ids: tuple[str, ...]
    facts_per_choice: float  # mean facts read per test choice by the facts reader

    def reader(self, name: str) -> ReaderRun:
        runs = {r.name: r for r in self.readers}
        if name not in runs:
            raise KeyError(f"no reader {name!r} in this lift; it has {sorted(runs)}")
        return runs[name]

    def pair(self, a: str, b: str) -> PairedStats:
        pairs = {(p.a, p.b): p for p in self.pairs}
        if (a, b) not in pairs:
            raise KeyError(f"no pair ({a!r}, {b!r}) in this lift (were both readers trained?); it has {sorted(pairs)}")
        return pairs[(a, b)]

    def table(self) -> str:
        n_train, n_dev, n_test = self.split
        header = (f"test: {n_test} questions (seeded split: {n_train} train, {n_dev} dev, {n_test} test); "
                  f"{self.facts_per_choice:.1f} facts per choice")
        lines = [header, f"{'reader':<34} {'n':>4}  accuracy  95% CI"]
        names = {"without": "trained and tested without facts", "facts": "trained and tested with facts",
                 "control": "trained and tested with control facts"}
        lines += [f"{names[r.name]:<34} {r.n:>4}  {r.accuracy:.4f}    [{r.ci95[0]:.4f}, {r.ci95[1]:.4f}]"
                  for r in self.readers]
        lines += [f"knowledge lift ({p.a} - {p.b}): {p.difference:+.4f} [{p.ci95[0]:+.4f}, {p.ci95[1]:+.4f}], "
                  f"McNemar p={p.mcnemar_p:.3g}" for p in self.pairs]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = asdict(self)
        for reader in out["readers"]:
            reader["correct"] = [int(c) for c in reader["correct"]]
        return out


class KnowledgeLift:
    """Train the three readers of one adapter configuration on one split, and test them on its test part."""

    def __init__(self, adapter: AdapterConfig, train: TrainConfig, retriever, *, progress: bool = True,
                 graph_checksum: str | None = None, retrieval_key: object = None, readers: Sequence[str] = READERS):
        """`graph_checksum` and `retrieval_key` (e.g. the retrieval settings as JSON) tell stored facts/control
        readers apart: one is reused only when they and the graph paths' rules version match (the `without` reader
        depends on none of them)."""
        unknown = sorted(set(readers) - set(READERS))
        if unknown:
            raise ValueError(f"`readers` {unknown} are not readers; valid: {list(READERS)}")
        self.adapter, self.train, self.retriever = adapter, train, retriever
        self.progress, self.readers = progress, tuple(readers)
        self.knowledge = {"graph": graph_checksum, "retrieval": retrieval_key, "path_rules": PATH_RULES}

    def run(self, questions: Sequence[Question], out_dir: str | Path, *,
            without_dir: str | Path | None = None) -> LiftResult:
        """Train (or reuse) each reader under out_dir/<name>, test it, and pair the results. `without_dir`: where the
        `without` reader lives instead (several retrieval settings can share one)."""
        out = Path(out_dir)
        split = split_questions(len(questions), self.train)
        test = [questions[i] for i in split.test]
        _check_test(test, len(questions), self.train)
        extra = load_mixture(((s.data, s.weight) for s in self.train.extra_data), seed=self.train.seed)
        control = MatchedControlRetriever(self.retriever, [*questions, *extra], seed=self.train.seed)
        sources = {"without": None, "facts": self.retriever, "control": control}
        folders = {name: out / name for name in READERS} | ({"without": Path(without_dir)} if without_dir else {})
        runs = [self._reader(name, questions, extra, test, sources[name], folders[name]) for name in self.readers]
        trained = {r.name: r for r in runs}
        pairs = tuple(paired_stats(a, trained[a].correct, b, trained[b].correct)
                      for a, b in PAIRS if a in trained and b in trained)
        evidence = [self.retriever.run(q) for q in test]
        read = self.adapter.facts_per_choice  # the facts reader reads each choice's first `read` facts with text
        per_choice = [len([f for f in facts[:read] if f.text]) for e in evidence for facts in e.per_choice]
        result = LiftResult(tuple(runs), pairs, (len(split.train), len(split.dev), len(split.test)),
                            tuple(q.id for q in test), sum(per_choice) / max(len(per_choice), 1))
        atomic_text(out / "lift.json", json.dumps(result.to_dict(), indent=2) + "\n")
        return result

    def _reader(self, name: str, questions, extra, test: list[Question], source, folder: Path) -> ReaderRun:
        began = time.perf_counter()
        stamp = self._stamp(questions, knowledge=source is not None)
        stored = _read_run(folder, stamp)
        if stored is not None and stored.n != len(test):  # stored before a change of the split's rounding
            stored = None
        if stored is not None and stored.scores:
            logger.info("reader %r in %s was trained with these settings: kept", name, folder)
            return stored
        if stored is not None:  # written before test logits were kept: test the stored reader again
            run = self._tested(name, stored.adapter_dir, test, source, stored.dev_accuracy, stored.train_seconds)
        else:
            trained = Trainer(self.adapter, self.train, source, graph_checksum=self.knowledge["graph"],
                              progress=self.progress).run(questions, folder, extra=extra)
            run = self._tested(name, str(trained.adapter_dir), test, source, trained.dev_accuracy,
                               round(time.perf_counter() - began, 1))
        _write_run(folder, run, stamp)
        logger.info("reader %r: test accuracy %.4f [%.4f, %.4f]", name, run.accuracy, *run.ci95)
        return run

    def _tested(self, name: str, adapter_dir: str, test: list[Question], source, dev_accuracy, seconds) -> ReaderRun:
        evidence = [source.run(q) for q in test] if source is not None else [Evidence.empty(q) for q in test]
        scores = AdapterReader(adapter_dir, max_length=self.train.max_length).run(test, evidence)
        correct = tuple(_argmax(s) == q.labels.index(q.answer) for s, q in zip(scores, test))
        accuracy, low, high = bootstrap_ci(correct)
        return ReaderRun(name, len(test), accuracy, (low, high), correct, tuple(dev_accuracy), adapter_dir, seconds,
                         tuple(tuple(s) for s in scores))

    def _stamp(self, questions, knowledge: bool) -> dict:
        """What a stored run must match to be reused: the settings, the questions, torch's CPU kernels, and for a
        reader of facts the graph, the retrieval settings and the graph paths' rules version."""
        train = self.train.model_dump(mode="json")
        for field, unset in (("split_seed", None), ("gradient_checkpointing", False)):  # unset: the stamp of a run
            if train[field] is unset:  # stored before the field existed still matches
                del train[field]
        return {"adapter": self.adapter.model_dump(mode="json"), "train": train,
                "questions": [q.id for q in questions], "knowledge": self.knowledge if knowledge else None,
                "kernels": cpu_kernels()}  # other kernels train to a few other answers: not the same run


def _check_test(test: Sequence[Question], n: int, train: TrainConfig) -> None:
    """Before any reader trains: the test part must exist and every test question must have a gold answer."""
    if not test:
        raise ConfigError(f"the knowledge lift needs test questions: `train.train_fraction` + `train.dev_fraction` "
                          f"({train.train_fraction} + {train.dev_fraction}) leave none of the {n} questions")
    unanswered = [q.id for q in test if q.answer not in q.labels]
    if unanswered:
        raise InputError(f"the knowledge lift scores its test questions against their gold `answer`; "
                         f"{len(unanswered)} have none among their labels, e.g. {unanswered[:3]}")


def _argmax(scores: Sequence[float]) -> int:
    return max(range(len(scores)), key=lambda i: (scores[i], -i))  # ties: the first choice


def _write_run(folder: Path, run: ReaderRun, stamp: dict) -> None:
    atomic_text(folder / "test.json", json.dumps({"stamp": stamp, "run": asdict(run)}) + "\n")


def _read_run(folder: Path, stamp: dict) -> ReaderRun | None:
    try:
        record = json.loads((folder / "test.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("stamp") != stamp:
        return None
    run = record["run"]
    return ReaderRun(**{**run, "ci95": tuple(run["ci95"]), "correct": tuple(run["correct"]),
                        "dev_accuracy": tuple(run["dev_accuracy"]),
                        "scores": tuple(tuple(s) for s in run.get("scores", ()))})
