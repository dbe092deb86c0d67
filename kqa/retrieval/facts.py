"""Edges as retrievable facts: which edges are indexed, and their verbalized text with provenance."""

from __future__ import annotations

import re
from collections.abc import Iterable

from kqa.graph.model import ACTIVE, Edge
from kqa.retrieval.verbalize import verbalize
from kqa.types import Fact, Provenance

NEGATED = re.compile(r"^Not[A-Z]")  # NotCapableOf, NotDesires, ...: negated assertions (ConceptNet)


def is_retrievable(edge: Edge) -> bool:
    """Quarantined or otherwise flagged edges stay in the store but are never retrieved; nor are negated assertions
    (kept so that validation can see contradictions; a small reader would read "cannot fly" as "fly")."""
    return edge.status == ACTIVE and not NEGATED.match(edge.relation)


def definition_fact(concept: str, description: str, score: float = 0.0) -> Fact:
    """A concept's definition as a fact: "aquarium: a tank for keeping fish"."""
    return Fact(concept, "DefinedAs", description, f"{concept}: {description}", score,
                (Provenance("definition"),), origin="definition", id=f"definition:{concept}")


def edge_fact(edge: Edge, score: float = 0.0, origin: str = "") -> Fact:
    return Fact(edge.head, edge.relation, edge.tail, verbalize(edge.head, edge.relation, edge.tail), score,
                edge.supports, origin=origin, id=edge.id)


def retrievable(edges: Iterable[Edge]) -> tuple[list[str], list[str]]:
    """(ids, texts) of every retrievable edge, in a stable order."""
    ids, texts = [], []
    for edge in sorted((e for e in edges if is_retrievable(e)), key=lambda e: e.id):
        ids.append(edge.id)
        texts.append(verbalize(edge.head, edge.relation, edge.tail))
    return ids, texts
