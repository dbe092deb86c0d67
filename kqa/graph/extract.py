"""Triples from the dependency parse of a spaCy Doc (ClearNLP labels, as in spaCy's English pipelines).

Relation names follow ConceptNet where one fits (IsA, HasA, PartOf, MadeOf, AtLocation, UsedFor, CapableOf, Causes,
HasProperty, Desires); any other subject-verb-object clause becomes a relation named by the verb lemma.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kqa.graph.model import ConceptInfo, Triple
from kqa.graph.names import fold

logger = logging.getLogger(__name__)

SUBJECTS = {"nsubj", "nsubjpass"}
NOT_CONCEPTS = {"DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY", "QUANTITY"}  # values, not things
KEEP_MODIFIERS = {"compound", "amod", "nmod"}  # "ice cream", "live fish"; determiners and numbers go
PART_WORDS = {"part", "piece", "component", "member", "section", "portion"}
KIND_WORDS = {"kind", "type", "sort", "form", "variety"}
LOCATIVE = {"in", "at", "on", "inside", "under", "near", "within", "beneath", "underneath"}
LOCATION_VERBS = {"live", "find", "locate", "keep", "store", "grow", "sit", "stand", "stay", "hang", "lie",
                  "sleep", "swim", "work", "place", "put", "occur", "exist", "sell", "buy", "see"}
HAVE_VERBS = {"have", "own", "possess", "contain", "include"}
MADE_VERBS = {"make", "compose", "build", "construct", "form", "produce"}
CAUSE_PREPS = {"lead": "to", "result": "in", "contribute": "to"}
CAUSAL = {"cause", *CAUSE_PREPS}
VERB_RELATIONS = {"want": "Desires", "desire": "Desires", "like": "Desires", "love": "Desires", "need": "Desires",
                  "cause": "Causes", "create": "CreatedBy"}
CONFIDENCE = {"IsA": 0.8, "PartOf": 0.8, "MadeOf": 0.8, "UsedFor": 0.8, "HasA": 0.7, "CapableOf": 0.7,
              "NotCapableOf": 0.7, "Causes": 0.7, "AtLocation": 0.6, "HasProperty": 0.6, "Desires": 0.6}
GENERIC_CONFIDENCE = 0.5
MAX_CONCEPT_TOKENS = 4


@dataclass(frozen=True)
class Extraction:
    triples: tuple[Triple, ...]
    concepts: tuple[ConceptInfo, ...]  # named entities among the triples' concepts, with their NER label


class TripleExtractor:
    """Rule-based relation extraction over a parsed Doc; needs a pipeline with a parser (and NER for labels)."""

    def __init__(self, name: str = "spacy-rules-v1"):
        self.name = name

    def run(self, doc) -> Extraction:
        entities = {t.i: ent for ent in doc.ents for t in ent}
        out: dict[tuple, Triple] = {}
        labels: dict[str, str] = {}
        for sent in doc.sents:
            _Sentence(sent, entities, self.name, out, labels).extract()
        used = {c for t in out.values() for c in (t.head, t.tail)}
        concepts = tuple(ConceptInfo(name, label) for name, label in sorted(labels.items()) if name in used)
        return Extraction(tuple(out.values()), concepts)


class _Sentence:
    """Rules applied to one sentence; results collect in `out` (keyed to drop duplicates)."""

    def __init__(self, sent, entities: dict, extractor: str, out: dict, labels: dict):
        self.sent, self.entities, self.extractor, self.out, self.labels = sent, entities, extractor, out, labels
        self.text = sent.text.strip()

    def extract(self) -> None:
        for tok in self.sent:
            if tok.dep_ == "appos" and tok.head.pos_ in ("NOUN", "PROPN"):
                self.emit(tok.head, "IsA", tok, 0.6)
            elif tok.dep_ == "poss" and tok.pos_ in ("NOUN", "PROPN"):
                self.emit(tok, "HasA", tok.head, 0.5)
            elif tok.dep_ == "prep" and tok.lower_ == "for" and tok.head.pos_ == "NOUN":
                self.purpose(tok.head, tok)  # "a tank for keeping fish"
            if tok.pos_ in ("VERB", "AUX"):
                self.clause(tok)

    # ---- clauses ---------------------------------------------------------------------------------------------
    def clause(self, verb) -> None:
        subjects = self.subjects(verb)
        if not subjects:
            return
        negated = any(c.dep_ == "neg" for c in verb.children)
        modal = any(c.dep_ == "aux" and c.lemma_.lower() in ("can", "could") for c in verb.children)
        for subj in subjects:
            if modal and verb.lemma_ != "be":
                self.emit_vp(subj, "NotCapableOf" if negated else "CapableOf", verb)
            if not negated and (not modal or verb.lemma_.lower() in CAUSAL):  # "stress can lead to illness"
                self.relations(subj, verb)

    def subjects(self, verb) -> list:
        found = [c for c in verb.children if c.dep_ in SUBJECTS]
        if not found and verb.dep_ == "acl":  # "a drink made from milk": the noun is the subject
            found = [verb.head]
        found = [verb.head if s.tag_ in ("WDT", "WP") and verb.dep_ == "relcl" else s for s in found]
        return _with_conjuncts(found)

    def relations(self, subj, verb) -> None:
        lemma, passive = verb.lemma_.lower(), self.is_passive(verb)
        preps = [(c.lower_, c) for c in verb.children if c.dep_ in ("prep", "agent") or c.pos_ == "ADP"]
        objects = _with_conjuncts([c for c in verb.children if c.dep_ == "dobj"])
        if lemma == "be":
            self.copula(subj, verb, preps)
        elif lemma == "use" and passive:
            self.used(subj, verb, preps)
        elif lemma in MADE_VERBS and passive and any(p in ("of", "from") for p, _ in preps):
            self.to_objects(subj, "MadeOf", [c for p, c in preps if p in ("of", "from")])
        elif lemma == "consist":
            self.to_objects(subj, "MadeOf", [c for p, c in preps if p == "of"])
        elif lemma in HAVE_VERBS and objects:
            for obj in objects:
                self.emit(subj, "HasA", obj)
        elif lemma in CAUSE_PREPS:
            self.to_objects(subj, "Causes", [c for p, c in preps if p == CAUSE_PREPS[lemma]])
        elif objects:
            self.generic(subj, lemma, objects)
        elif passive and any(p == "by" for p, _ in preps):
            for agent in self.objects_of([c for p, c in preps if p == "by"]):
                self.emit(agent, VERB_RELATIONS.get(lemma, lemma), subj)  # "mice are eaten by cats"
        if lemma in LOCATION_VERBS:
            self.to_objects(subj, "AtLocation", [c for p, c in preps if p in LOCATIVE])
        if lemma not in ("be", "use"):  # "a tank filled with water for keeping fish": a purpose (gerund only)
            for prep in (c for p, c in preps if p == "for" and any(g.dep_ == "pcomp" for g in c.children)):
                self.purpose(subj, prep)

    def copula(self, subj, verb, preps) -> None:
        for attr in _with_conjuncts([c for c in verb.children if c.dep_ == "attr"]):
            of = self.objects_of([c for c in attr.children if c.dep_ == "prep" and c.lower_ == "of"])
            if attr.lemma_.lower() in PART_WORDS and of:
                for whole in of:
                    self.emit(subj, "PartOf", whole)
            elif attr.lemma_.lower() in KIND_WORDS and of:
                for kind in of:
                    self.emit(subj, "IsA", kind)
            else:
                self.emit(subj, "IsA", attr)
        for adj in _with_conjuncts([c for c in verb.children if c.dep_ == "acomp"]):
            self.emit(subj, "HasProperty", adj)
        self.to_objects(subj, "AtLocation", [c for p, c in preps if p in LOCATIVE])
        for p, prep in preps:
            if p == "for":
                self.purpose(subj, prep)

    def used(self, subj, verb, preps) -> None:
        for p, prep in preps:
            if p == "for":
                self.purpose(subj, prep)
        for comp in verb.children:
            if comp.dep_ in ("xcomp", "advcl") and comp.pos_ == "VERB":
                self.emit_vp(subj, "UsedFor", comp)  # "used to cut bread"

    def purpose(self, subj, prep) -> None:
        for child in prep.children:
            if child.dep_ == "pcomp" and child.pos_ == "VERB":
                self.emit_vp(subj, "UsedFor", child)
            elif child.dep_ == "pobj":
                for obj in _with_conjuncts([child]):
                    self.emit(subj, "UsedFor", obj)

    def generic(self, subj, lemma: str, objects: list) -> None:
        relation = VERB_RELATIONS.get(lemma, lemma)
        for obj in objects:
            self.emit(subj, relation, obj)

    def to_objects(self, subj, relation: str, preps: list) -> None:
        for obj in self.objects_of(preps):
            self.emit(subj, relation, obj)

    @staticmethod
    def objects_of(preps: list) -> list:
        return _with_conjuncts([c for p in preps for c in p.children if c.dep_ == "pobj"])

    @staticmethod
    def is_passive(verb) -> bool:
        return any(c.dep_ in ("auxpass", "nsubjpass") for c in verb.children) or (
            verb.dep_ == "acl" and verb.tag_ == "VBN")

    # ---- concepts --------------------------------------------------------------------------------------------
    def emit(self, head_tok, relation: str, tail_tok, confidence: float | None = None) -> None:
        head, tail = self.concept(head_tok), self.concept(tail_tok)
        self.add(head, relation, tail, confidence)

    def emit_vp(self, subj, relation: str, verb) -> None:
        self.add(self.concept(subj), relation, self.verb_phrase(verb), None)

    def add(self, head: str | None, relation: str, tail: str | None, confidence: float | None) -> None:
        if not head or not tail or head == tail:
            return
        conf = confidence if confidence is not None else CONFIDENCE.get(relation, GENERIC_CONFIDENCE)
        self.out.setdefault((head, relation, tail, self.text),
                            Triple(head, relation, tail, self.text, self.extractor, conf))

    def concept(self, tok) -> str | None:
        """Normalized concept of a noun/adjective token: lemmas, lowercase, no determiners or stop words."""
        ent = self.entities.get(tok.i)
        if ent is not None:
            if ent.label_ in NOT_CONCEPTS:
                return None
            name = " ".join(fold(t.text) for t in ent if t.dep_ != "det" and not t.is_punct)
            if name:
                self.labels.setdefault(name, ent.label_)
            return name or None
        # spaCy's stop words, not the concept key's (kqa.graph.names): measured on SciQ's 887 paragraphs, the key's
        # list makes "much heat", "many pollutant", "large" (of "a large amount") concepts; 479 of 4214 edges change
        if tok.pos_ in ("PRON", "DET", "NUM") or tok.is_stop or tok.is_punct or not tok.text.strip():
            return None
        words = [t for m in tok.lefts if m.dep_ in KEEP_MODIFIERS for t in m.subtree] + [tok]
        lemmas = [fold(t.lemma_) for t in words
                  if not (t.is_stop or t.is_punct or t.like_num or t.pos_ in ("DET", "PRON", "PART"))]
        lemmas = [w for w in lemmas if w.strip()][-MAX_CONCEPT_TOKENS:]
        return " ".join(lemmas) or None

    def verb_phrase(self, verb) -> str | None:
        """'drive nail' from 'driving nails': verb lemma, particle, first direct object."""
        if verb.lemma_ == "be":
            return None
        parts = [verb.lemma_.lower()] + [c.lower_ for c in verb.children if c.dep_ == "prt"]
        obj = next((c for c in verb.children if c.dep_ == "dobj"), None)
        obj_concept = self.concept(obj) if obj is not None else None
        return " ".join(parts + ([obj_concept] if obj_concept else []))


def _with_conjuncts(tokens: list) -> list:
    """Add coordinated tokens: 'cats and dogs' -> [cats, dogs]."""
    out = []
    for tok in tokens:
        out.append(tok)
        out.extend(c for c in tok.conjuncts if c.pos_ == tok.pos_ or c.pos_ in ("NOUN", "PROPN"))
    return out
