"""Shared fixtures of the graph tests: a cheap rule extractor on spacy.blank, the packaged parser, a tiny corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kqa.graph.config import GraphConfig
from kqa.graph.engines import LocalParser
from kqa.graph.extract import Extraction
from kqa.graph.model import Triple

ROOT = Path(__file__).resolve().parents[2]
IS_A = re.compile(r"(?:an? |the )?([a-z ]+?) (?:is|are) (?:an? |the )?([a-z ]+)")


class IsAExtractor:
    """'X is a Y' per sentence, no parse needed: enough to exercise build/update/remove on spacy.blank('en')."""

    name = "test-isa"

    def run(self, doc) -> Extraction:
        triples = []
        for sentence in doc.text.lower().split("."):
            if m := IS_A.fullmatch(sentence.strip()):
                triples.append(Triple(m[1], "IsA", m[2], sentence.strip() + ".", self.name, 0.9))
        return Extraction(tuple(triples), ())


@pytest.fixture(scope="session")
def blank_nlp():
    import spacy

    return spacy.blank("en")


@pytest.fixture()
def cheap_parser(blank_nlp):
    return LocalParser(GraphConfig(), blank_nlp, IsAExtractor())


@pytest.fixture(scope="session")
def nlp_sm():
    from kqa.models import load_spacy

    return load_spacy("en-core-web-sm")


@pytest.fixture()
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("A dog is an animal. A cat is an animal.")
    (folder / "b.md").write_text("A dog is an animal. A rose is a flower.")
    (folder / "sub").mkdir()
    (folder / "sub" / "c.txt").write_text("An oak is a tree.")
    return folder
