"""Turn a triple into a short English sentence: ("fish", "AtLocation", "aquarium") -> "a fish is located at an aquarium".

Pure functions, no model: one template per ConceptNet-style relation; an unknown relation (e.g. a verb lemma from the
extractor's generic subject-verb-object rule) falls back to a readable form.
"""

from __future__ import annotations

import re

# {H}/{T}: noun phrase with an indefinite article; {h}/{t}: bare (verb phrases, mass nouns, adjectives).
TEMPLATES: dict[str, str] = {
    "IsA": "{H} is {T}",
    "InstanceOf": "{h} is an instance of {T}",
    "HasA": "{H} has {T}",
    "PartOf": "{H} is part of {T}",
    "MadeOf": "{H} is made of {t}",
    "AtLocation": "{H} is located at {T}",
    "LocatedNear": "{H} is near {T}",
    "UsedFor": "{H} is used for {t}",
    "CapableOf": "{H} can {t}",
    "NotCapableOf": "{H} cannot {t}",
    "ReceivesAction": "{H} can be {t}",
    "Causes": "{h} causes {t}",
    "CausesDesire": "{h} makes you want to {t}",
    "HasSubevent": "{h} involves {t}",
    "HasFirstSubevent": "{h} starts with {t}",
    "HasLastSubevent": "{h} ends with {t}",
    "HasPrerequisite": "{h} requires {t}",
    "HasProperty": "{H} is {t}",
    "NotHasProperty": "{H} is not {t}",
    "MotivatedByGoal": "{h} is motivated by {t}",
    "Desires": "{H} wants {t}",
    "NotDesires": "{H} does not want {t}",
    "CreatedBy": "{H} is created by {T}",
    "DefinedAs": "{h} is defined as {t}",
    "Antonym": "{h} is the opposite of {t}",
    "Synonym": "{h} means the same as {t}",
    "SimilarTo": "{h} is similar to {t}",
    "DistinctFrom": "{h} is distinct from {t}",
    "DerivedFrom": "{h} is derived from {t}",
    "RelatedTo": "{h} is related to {t}",
    "FormOf": "{h} is a form of {t}",
    "MannerOf": "{h} is a way to {t}",
    "Entails": "{h} entails {t}",
    "SymbolOf": "{h} is a symbol of {t}",
}

_VOWEL_SOUND_EXCEPTIONS = ("uni", "use", "usu", "eu", "one", "ur")  # "a unicorn", "a user", "a one-way street"
_SILENT_H = ("hour", "honest", "honor", "heir")


def verbalize(head: str, relation: str, tail: str) -> str:
    """One readable sentence for a triple; never fails, whatever the relation name."""
    template = TEMPLATES.get(relation)
    if template is None:
        return f"{with_article(head)} {relation_phrase(relation)} {tail}"
    return template.format(H=with_article(head), T=with_article(tail), h=head, t=tail)


def with_article(phrase: str) -> str:
    """Add "a"/"an" to a singular common noun phrase; leave plurals, numbers and phrases with a determiner alone."""
    words = phrase.split()
    if not words or words[0] in {"a", "an", "the", "some", "any", "my", "your"}:
        return phrase
    if any(ch.isdigit() for ch in phrase) or any(ch.isupper() for ch in phrase) or _looks_plural(words[-1]):
        return phrase
    return f"{_indefinite(words[0])} {phrase}"


def _looks_plural(word: str) -> bool:
    return len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ous"))


def _indefinite(word: str) -> str:
    lower = word.lower()
    if lower.startswith(_SILENT_H):
        return "an"
    if lower[0] in "aeiou" and not lower.startswith(_VOWEL_SOUND_EXCEPTIONS):
        return "an"
    return "a"


def relation_phrase(relation: str) -> str:
    """"HasSubevent" -> "has subevent", "located_in" -> "located in", a verb lemma "eat" -> "eats"."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", relation).replace("_", " ").replace("/", " ").lower().split()
    if len(words) == 1:
        return _third_person(words[0])
    return " ".join(words)


def _third_person(verb: str) -> str:
    if verb in {"be", "is"}:
        return "is"
    if verb == "have":
        return "has"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"
