"""Parsing engines: turn raw documents into Documents with triples. Both keep the writer single (the caller).

local: nlp.pipe in this process (n_process=workers). ray: a Ray Data map_batches job (extra [dist]); Ray is
imported only when this engine is chosen.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from kqa.errors import ConfigError, ModelUnavailableError
from kqa.graph.config import GraphConfig
from kqa.graph.corpus import RawDocument
from kqa.graph.extract import Extraction, TripleExtractor
from kqa.graph.model import ConceptInfo, Document, Triple

logger = logging.getLogger(__name__)


class Extractor(Protocol):
    name: str

    def run(self, doc) -> Extraction: ...


class Parser(Protocol):
    def run(self, docs: Sequence[RawDocument]) -> Iterator[Document]: ...


def extractor_name(nlp) -> str:
    return f"spacy-rules-v1/{nlp.meta.get('lang', 'xx')}_{nlp.meta.get('name', 'pipeline')}"


class LocalParser:
    """nlp.pipe over the documents; extraction runs in this process on the parsed Docs."""

    def __init__(self, config: GraphConfig, nlp=None, extractor: Extractor | None = None):
        self.config, self.nlp, self.extractor = config, nlp, extractor

    def warm_up(self) -> None:
        if self.nlp is None:
            from kqa.models import load_spacy

            self.nlp = load_spacy(self.config.spacy_model)
        if self.extractor is None:
            if "parser" not in self.nlp.pipe_names:
                raise ConfigError(f"spaCy pipeline {self.config.spacy_model!r} has no dependency parser "
                                  f"(components: {self.nlp.pipe_names}); `spacy_model` needs one, e.g. 'en-core-web-sm'.")
            self.extractor = TripleExtractor(extractor_name(self.nlp))

    def run(self, docs: Sequence[RawDocument]) -> Iterator[Document]:
        self.warm_up()
        stream = self.nlp.pipe(((d.text, d) for d in docs), as_tuples=True, batch_size=self.config.batch_size,
                               n_process=self.config.workers)
        for parsed, raw in stream:
            found = self.extractor.run(parsed)
            yield Document(raw.id, raw.name, found.triples, found.concepts, sentences_of(parsed))


class RayParser:
    """A Ray Data job: actors load the pipeline once and return JSON triples; the caller writes them."""

    def __init__(self, config: GraphConfig):
        self.config = config

    def run(self, docs: Sequence[RawDocument]) -> Iterator[Document]:
        if not docs:
            return
        ray = _import_ray()
        if not ray.is_initialized():
            root = str(Path(__file__).resolve().parents[2])  # workers must import kqa even when it is not installed
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(num_cpus=self.config.workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": path}})
        ds = ray.data.from_items([{"name": d.name, "text": d.text} for d in docs])
        ds = ds.map_batches(RayExtract, fn_constructor_kwargs={"model": self.config.spacy_model},
                            batch_size=self.config.batch_size, concurrency=self.config.workers, num_cpus=1)
        for row in ds.iter_rows():
            yield decode_document(row["id"], row["name"], row["result"])


class RayExtract:
    """Ray actor body (a callable class, so the pipeline loads once per actor)."""

    def __init__(self, model: str):
        from kqa.models import load_spacy

        self.nlp = load_spacy(model)
        self.extractor = TripleExtractor(extractor_name(self.nlp))

    def __call__(self, batch: dict) -> dict:
        from kqa.graph.corpus import content_id

        texts = [str(t) for t in batch["text"]]
        results = [encode_extraction(self.extractor.run(doc), sentences_of(doc)) for doc in self.nlp.pipe(texts)]
        return {"id": [content_id(t) for t in texts], "name": list(batch["name"]), "result": results}


def sentences_of(doc) -> tuple[str, ...]:
    """The sentences of a parsed Doc in order, stripped, as the extractor quotes them in a triple's provenance; none
    when the pipeline sets no sentence boundaries (e.g. spacy.blank without a sentencizer)."""
    if not doc.has_annotation("SENT_START"):
        return ()
    return tuple(text for text in (sent.text.strip() for sent in doc.sents) if text)


def encode_extraction(found: Extraction, sentences: tuple[str, ...] = ()) -> str:
    return json.dumps({"t": [[t.head, t.relation, t.tail, t.sentence, t.extractor, t.confidence] for t in found.triples],
                       "c": [[c.name, c.label, c.description] for c in found.concepts], "s": list(sentences)})


def decode_document(doc_id: str, name: str, result: str) -> Document:
    data = json.loads(result)
    return Document(doc_id, name, tuple(Triple(*t) for t in data["t"]), tuple(ConceptInfo(*c) for c in data["c"]),
                    tuple(data.get("s", ())))


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ModelUnavailableError("engine 'ray' needs Ray Data. Fix: pip install 'kqa[dist]' "
                                    "(or pip install 'ray[data]==2.60.0').") from None
    return ray


def make_parser(config: GraphConfig, nlp=None, extractor: Extractor | None = None) -> Parser:
    if config.engine == "ray":
        return RayParser(config)
    return LocalParser(config, nlp, extractor)
