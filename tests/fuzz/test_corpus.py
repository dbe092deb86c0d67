"""Corpora (.txt/.md folders, single files, JSONL {id, text}): every document is read or skipped with a reason."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import Corpora
from kqa.errors import InputError
from kqa.graph.corpus import RawDocument, Skipped, read_corpus
from tests.fuzz import FUZZ


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    return Corpora(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_corpora_are_read_or_skipped_document_by_document(corpora, rng):
    outcome = corpora.run(rng)
    assert outcome.kind != "escaped", outcome.detail


def read(path, max_bytes=1_000_000):
    return list(read_corpus(path, max_bytes=max_bytes))


def test_a_missing_jsonl_corpus_is_an_input_error_not_file_not_found(tmp_path):
    with pytest.raises(InputError, match=r"corpus .*missing\.jsonl does not exist"):
        read(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("line, reason", [
    (json.dumps({"id": "d1", "text": "fish \ud800 swim"}), "not JSON (a \\uD800-\\uDFFF escape without its pair"),
    ('{"id": ' + "1" * 5000 + ', "text": "x"}', "not JSON (Exceeds the limit (4300 digits)"),
    ("[" * 100_000, "not JSON (nested too deeply)"),
])
def test_jsonl_records_python_cannot_use_are_skipped_with_a_reason(tmp_path, line, reason):
    path = tmp_path / "docs.jsonl"
    path.write_text(line + "\n" + json.dumps({"id": "d2", "text": "A fish swims."}) + "\n")
    first, second = read(path)
    assert isinstance(first, Skipped) and first.name == "docs.jsonl:1" and first.reason.startswith(reason)
    assert isinstance(second, RawDocument) and second.id  # the id hashes UTF-8: a lone surrogate used to fail here


def test_an_overlong_jsonl_line_is_measured_and_skipped_and_the_next_one_read(tmp_path):
    path = tmp_path / "docs.jsonl"
    big = json.dumps({"id": "big", "text": "fish " * 5000})
    path.write_text(big + "\n" + json.dumps({"id": "d2", "text": "A fish swims."}) + "\n")
    first, second = read(path, max_bytes=1000)
    assert first == Skipped("docs.jsonl:1", f"too large ({len(big) + 1} bytes > max_doc_bytes 1000)")
    assert second == RawDocument("d2", "A fish swims.")


def test_a_corpus_name_too_long_for_the_file_system_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"corpus '.*xxx\.\.\. \(\d+ characters\) cannot be opened: File name"):
        read(tmp_path / ("x" * 300))  # Path.is_dir() raised OSError (ENAMETOOLONG)
