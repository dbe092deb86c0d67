"""One form of a concept's words (kqa.graph.names): the key, the words of a text, a name as typed."""

import random

import pytest

from kqa.data import question_from_text
from kqa.graph.importers import question_vocabulary
from kqa.graph.names import WORD, concept_key, fold, key_of_name, typed_key, words_of
from kqa.retrieval.retriever import content_words

DECOMPOSED = "cafe\u0301"  # "café" as e + a combining accent


@pytest.mark.parametrize("text, words", [
    ("Isn\u2019t it a CAFE\u0301?", ["isn't", "it", "a", "café"]),  # curly apostrophe, decomposed accent
    ("İstanbul", ["i\u0307stanbul"]),  # the lowercase of İ keeps its dot as a combining mark
    ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # vowel signs are marks, inside the word
    ("an x-ray on the 4th", ["an", "x-ray", "on", "the", "4th"]),
    ("go_to_the store -- 'quoted'", ["go", "to", "the", "store", "quoted"]),
])
def test_words_of_reads_one_form(text, words):
    assert words_of(text) == words


def test_the_key_is_the_same_however_a_word_was_typed():
    assert key_of_name(DECOMPOSED) == concept_key([DECOMPOSED]) == key_of_name("café") == "café"
    assert concept_key(["o\u2019clock"]) == key_of_name("o\u2019clock") == key_of_name("o'clock") == "o'clock"
    assert typed_key(f"  Ice_Cream   {DECOMPOSED.upper()} ") == "ice cream café"


def test_vocabulary_and_dense_query_read_the_folded_words():
    question = question_from_text(f"Where isn\u2019t a {DECOMPOSED} found?", ["Paris", "x-ray"])
    vocabulary = question_vocabulary([question])
    assert "café" in vocabulary and "isn't" in vocabulary and DECOMPOSED not in vocabulary
    assert content_words(f"Where isn\u2019t a {DECOMPOSED.upper()}?") == "not café"


def test_the_ascii_fast_path_reads_the_words_the_unicode_rule_reads():
    texts = ["Go_to the STORE, don't-stop x-ray's 4th 1990s a--b 'q' _x_ O'Neil 3.5"]
    rng = random.Random(0)
    texts += ["".join(rng.choice("aZ09_'- .\t!é") for _ in range(rng.randint(1, 12))) for _ in range(2000)]
    for text in texts:
        assert words_of(text) == WORD.findall(fold(text)), text
