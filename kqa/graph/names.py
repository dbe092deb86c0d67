"""One concept key everywhere: how the linker and every importer name a concept (the corpus extractor keeps spaCy's
own stop words: the key's shorter list made it build quantifier concepts such as "much heat" from prose).

A key is lowercase lemmas with function words dropped, the way ConceptNet 4 names its nodes: "going to the store"
-> "go store", "a box of kleenex" -> "box kleenex". spaCy's stop-word list also holds content words that
commonsense questions are about ("go", "keep", "put", "top", "empty"); ConceptNet keeps those, and so does the key.
The list of kept words was read off ConceptNet 4 itself: the spaCy stop words that occur 400+ times in its node names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache

import regex  # Unicode classes (\p{L}, \p{M}) that `re` lacks; a dependency of transformers, declared by kqa too

# spaCy stop words that name things, actions or places in ConceptNet 4 ("go store", "keep fish", "top shelf")
CONTENT_WORDS = frozenset({
    "go", "make", "take", "get", "up", "see", "out", "many", "something", "not", "become", "keep", "put", "other",
    "show", "down", "give", "part", "move", "off", "call", "two", "yourself", "another", "over", "name", "no", "much",
    "back", "around", "others", "after", "first", "together", "own", "say", "through", "well", "one", "same", "top",
    "front", "before", "side", "between", "under", "without", "amount", "four", "every", "against", "full", "bottom",
    "done", "empty", "last", "fill", "serve", "use", "find", "fire", "three", "five",
    "mine", "third", "hundred", "will", "whole", "least",  # nouns in node names: "salt mine", "free will"
})
# a word: letters and digits of any script with their combining marks ("café", "हिन्दी", "i̇stanbul", the
# lowercase of "İstanbul"), joined by apostrophes or hyphens ("don't", "x-ray", "4th")
_PART = r"[\p{L}\p{N}][\p{L}\p{M}\p{N}]*"
WORD = regex.compile(rf"{_PART}(?:['-]{_PART})*")
# the same words in ASCII text, where `re` is faster (ConceptNet 4's names are ASCII but for 0.003%)
_ASCII_WORD = re.compile(r"[a-zA-Z0-9]+(?:['-][a-zA-Z0-9]+)*")


@cache
def concept_stop_words() -> frozenset[str]:
    """spaCy's English stop words less the content words above. Read on first use: importing spaCy costs seconds,
    and `import kqa` (the CLI's start) should not pay them."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) - CONTENT_WORDS


def concept_key(words: Iterable[str]) -> str:
    """The key of a concept from its (lemmatized) words: lowercase, function words dropped, single spaces.

    Returns "" when nothing but function words is left ("the", "of it").
    """
    return _key(fold(w).strip() for w in words)


def _key(folded: Iterable[str]) -> str:
    stop = concept_stop_words()
    return " ".join(w for w in folded if w and w not in stop)


def fold(text: str) -> str:
    """`text` in the one form concept names take: lowercase, Unicode NFC (a "café" typed as "e" + a combining accent
    is the same word) and straight apostrophes ("isn\u2019t" is "isn't")."""
    return unicodedata.normalize("NFC", text.lower()).replace("\u2019", "'").replace("\u2018", "'")


def words_of(text: str) -> list[str]:
    """The words of `text` (WORD), folded."""
    if text.isascii():  # folding is lowercasing, and there are no marks: the fast path
        return _ASCII_WORD.findall(text.lower())
    return WORD.findall(fold(text))


def typed_key(name: str) -> str:
    """A concept name as a user typed it (`kqa graph show`, merge, the web page): folded, "_" as a space, single
    spaces. Not a concept key: a graph built from a corpus keeps the words a key would drop."""
    return " ".join(fold(name).replace("_", " ").split())


def key_of_name(name: str) -> str:
    """The key of an already lemmatized name (an importer's node such as "go_to_the_store" or "box of kleenex")."""
    return _key(words_of(name.replace("_", " ")))  # words_of folded them


def is_concept_stop_word(word: str) -> bool:
    return word.lower() in concept_stop_words()


def is_function_token(token) -> bool:
    """A spaCy token whose lemma or text is a stop word of the key: the linker drops such words from the concepts it
    links, so a choice "bottom" and a question's "the bottom of the sea" name the same concept."""
    return is_concept_stop_word(token.lemma_ or token.text) or is_concept_stop_word(token.text)
