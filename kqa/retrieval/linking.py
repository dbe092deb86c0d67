"""Link question and choice text to graph concepts.

Candidates are lemma n-grams (up to `max_ngram` tokens), n-grams of content words with the function words between
them skipped ("going to the store" -> "go store", ConceptNet's way), noun chunks and named entities, all looked up
under kqa's one concept key (kqa.graph.names: lowercase lemmas, function words dropped) and their surface form.
A candidate links when the graph's vocabulary holds it; spans made only of stop words are dropped; overlapping
matches keep the longest, unless `overlapping` keeps every question match (more ways to reach a choice).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from kqa.graph.names import concept_key, is_function_token
from kqa.types import Question


class LinkingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_ngram: int = Field(3, ge=1, le=6, description="Longest lemma n-gram tried against the vocabulary.")
    head_fallback: bool = Field(
        True, description="When a choice links to nothing as a whole, try its syntactic head word alone."
    )
    parse_question: bool = Field(
        True, description="Run spaCy's parser and NER on the question for noun-chunk and entity candidates; off, "
        "n-grams alone link it, as they do the choices (CSQA on ConceptNet 4: the same concepts for 1219 of 1221 "
        "questions, linking with the choices 12.4 -> 7.3 ms)."
    )
    overlapping: bool = Field(
        False, description="Keep every concept matched in the question (\"go store\" and \"store\"), not only "
        "the longest non-overlapping ones; choices always keep the longest."
    )


@dataclass(frozen=True)
class LinkedConcept:
    name: str  # the graph concept
    text: str  # the span it was read from
    start: int  # character offsets in the text
    end: int
    source: str  # "ngram" | "chunk" | "entity" | "head"


@dataclass(frozen=True)
class Linking:
    """Concepts of a question and of each of its choices (aligned with question.choices)."""

    question: tuple[LinkedConcept, ...]
    choices: tuple[tuple[LinkedConcept, ...], ...]
    given: tuple[LinkedConcept, ...] = ()  # the question's given concept (CSQA `question_concept`), when linked


class ConceptLinker:
    """Find the graph concepts mentioned in a question and its choices."""

    def __init__(self, vocabulary: Collection[str], nlp, config: LinkingConfig = LinkingConfig()):
        self.vocabulary = vocabulary
        self.nlp = nlp
        self.config = config

    def run(self, question: Question, given: bool = False) -> Linking:
        """Concepts of the stem and of each choice; with `given`, of the question's given concept too."""
        # choices and the given concept are short: the parser and NER add little there and cost most of the time,
        # and one pipe call for all of them costs little more than one call for one text
        disabled = [p for p in ("parser", "ner") if p in self.nlp.pipe_names]
        concept = [question.concept] if given and question.concept else []
        short = [c.text for c in question.choices] + concept
        if self.config.parse_question:
            stem_doc, docs = self.nlp(question.stem), list(self.nlp.pipe(short, disable=disabled))
        else:
            stem_doc, *docs = self.nlp.pipe([question.stem, *short], disable=disabled)
        choice_docs, given_docs = docs[: len(question.choices)], docs[len(question.choices) :]
        stem = self.link_doc(stem_doc, keep_overlaps=self.config.overlapping)
        return Linking(stem, tuple(self.link_doc(d, whole=True) for d in choice_docs),
                       tuple(c for d in given_docs for c in self.link_doc(d)))

    def link_text(self, text: str) -> tuple[LinkedConcept, ...]:
        return self.link_doc(self.nlp(text))

    def link_doc(self, doc, whole: bool = False, keep_overlaps: bool = False) -> tuple[LinkedConcept, ...]:
        found = self._ngrams(doc) + self._content_ngrams(doc) + self._spans(doc)
        if whole and (name := self._lookup(doc[:])) and not any(f.name == name for f in found):
            found.append(LinkedConcept(name, doc.text, 0, len(doc.text), "chunk"))
        chosen = _distinct_names(found) if keep_overlaps else _longest_non_overlapping(found)
        if whole and not chosen and self.config.head_fallback:
            chosen = self._head(doc)
        return tuple(sorted(chosen, key=lambda c: c.start))

    def _ngrams(self, doc) -> list[LinkedConcept]:
        out = []
        for n in range(self.config.max_ngram, 0, -1):
            for start in range(0, len(doc) - n + 1):
                span = doc[start : start + n]
                trimmed = _trim(span)  # stop-word-only spans vanish; "a live fish" is found as "live fish"
                if trimmed is None or len(trimmed) != n:
                    continue
                if name := self._lookup(span):
                    out.append(LinkedConcept(name, span.text, span.start_char, span.end_char, "ngram"))
        return out

    def _content_ngrams(self, doc) -> list[LinkedConcept]:
        """N-grams of content words that only function words separate: "go to the store" -> "go store"."""
        out = []
        for run in _content_runs(doc):
            for n in range(2, self.config.max_ngram + 1):
                for start in range(len(run) - n + 1):
                    words = run[start : start + n]
                    key = concept_key((t.lemma_ or t.text) for t in words)
                    if key in self.vocabulary:
                        first, last = words[0], words[-1]
                        out.append(LinkedConcept(key, doc.text[first.idx : last.idx + len(last.text)], first.idx,
                                                 last.idx + len(last.text), "ngram"))
        return out

    def _spans(self, doc) -> list[LinkedConcept]:
        spans = [(s, "entity") for s in doc.ents]
        if doc.has_annotation("DEP"):
            spans += [(s, "chunk") for s in doc.noun_chunks]
        out = []
        for span, source in spans:
            span = _trim(span)  # "a live fish" -> "live fish": offsets point at what linked
            if span is not None and (name := self._lookup(span)):
                out.append(LinkedConcept(name, span.text, span.start_char, span.end_char, source))
        return out

    def _head(self, doc) -> list[LinkedConcept]:
        content = [t for t in doc if not (is_function_token(t) or t.is_punct or t.is_space)]
        for token in reversed(content):  # English noun phrases end in their head: "department store" -> store
            if name := self._lookup(doc[token.i : token.i + 1]):
                return [LinkedConcept(name, token.text, token.idx, token.idx + len(token.text), "head")]
        return []

    def _lookup(self, span) -> str | None:
        for key in _keys(span):
            if key in self.vocabulary:
                return key
        return None


def _trim(span):
    """The span without leading determiners/function words and trailing function words or punctuation; None if
    empty."""
    start, end = span.start, span.end
    doc = span.doc
    while start < end and (is_function_token(doc[start]) or doc[start].pos_ == "DET" or doc[start].is_punct
                           or doc[start].is_space):
        start += 1
    while end > start and (is_function_token(doc[end - 1]) or doc[end - 1].is_punct or doc[end - 1].is_space):
        end -= 1
    return doc[start:end] if end > start else None


def _keys(span) -> list[str]:
    """Normalized forms of a span, most specific first: lemmas without determiners/stop words, then surface, then
    the concept key (function words inside dropped as well: "box of kleenex" -> "box kleenex")."""
    span = _trim(span)
    if span is None:
        return []
    content = [t for t in span if not (t.is_punct or t.is_space)]
    lemmas = " ".join((t.lemma_ or t.text).lower() for t in content)
    surface = " ".join(t.text.lower() for t in content)
    key = concept_key((t.lemma_ or t.text) for t in content)
    return [k for k in dict.fromkeys((lemmas, surface, key)) if k]


def _content_runs(doc) -> list[list]:
    """Runs of content tokens (not function words) that no punctuation interrupts, e.g. [go, store, buy, milk]."""
    runs: list[list] = [[]]
    for token in doc:
        if token.is_punct or token.is_space:
            runs.append([])
        elif not is_function_token(token):
            runs[-1].append(token)
    return [r for r in runs if len(r) > 1]


def _distinct_names(found: Sequence[LinkedConcept]) -> list[LinkedConcept]:
    """Every matched concept once (its longest span first), overlaps allowed."""
    chosen: dict[str, LinkedConcept] = {}
    for cand in sorted(found, key=lambda c: (-(c.end - c.start), c.start)):
        chosen.setdefault(cand.name, cand)
    return list(chosen.values())


def _longest_non_overlapping(found: Sequence[LinkedConcept]) -> list[LinkedConcept]:
    chosen: list[LinkedConcept] = []
    for cand in sorted(found, key=lambda c: (-(c.end - c.start), c.start)):
        if all(cand.end <= c.start or cand.start >= c.end for c in chosen):
            chosen.append(cand)
    return chosen
