"""WordNet vocabulary files (`--vocabulary terms.txt`): a set of terms, or an InputError naming the file."""

import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import VocabularyFiles
from kqa.errors import InputError
from kqa.graph.importers import read_vocabulary
from tests.fuzz import FUZZ


@pytest.fixture(scope="module")
def vocabularies(tmp_path_factory):
    return VocabularyFiles(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@example(rng=random.Random("1:vocabulary:1"))  # bench_fuzz input that escaped (seed 1): UnicodeDecodeError
@given(rng=st.randoms(use_true_random=False))
def test_vocabulary_files_read_or_name_the_file(vocabularies, rng):
    outcome = vocabularies.run(rng)
    assert outcome.kind != "escaped", outcome.detail


def test_a_term_list_reads_lowercased_without_blanks(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("Fish\n\n  live fish \r\nOVEN\n")
    assert read_vocabulary(path) == {"fish", "live fish", "oven"}


def test_a_byte_order_mark_is_not_part_of_the_first_term(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_bytes(b"\xef\xbb\xbfFish\noven\n")
    assert read_vocabulary(path) == {"fish", "oven"}


def test_a_term_list_that_is_not_utf8_is_an_input_error_naming_the_file_and_line(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_bytes(b"fish\ncaf\xe9\n")  # Latin-1: was a UnicodeDecodeError
    with pytest.raises(InputError, match=r"line 2 of vocabulary file .*terms\.txt: not UTF-8 \(byte 0xe9 at offset 8\)"):
        read_vocabulary(path)


@pytest.mark.parametrize("name, message", [
    ("missing.txt", r"vocabulary file .*missing\.txt does not exist; give a \.txt file"),
    ("folder.txt", r"vocabulary file .*folder\.txt is a folder; give a \.txt file"),
    ("x" * 300 + ".txt", r"vocabulary file '.*xxx\.\.\. \(\d+ characters\) cannot be opened: File name too long"),
])
def test_a_vocabulary_path_that_is_no_file_is_an_input_error(tmp_path, name, message):
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(InputError, match=message):  # the long name: Path.is_file() raised OSError (ENAMETOOLONG)
        read_vocabulary(tmp_path / name)
