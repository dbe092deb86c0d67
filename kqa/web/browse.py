"""The page's graph browser: counts, a concept's neighbourhood as a picture and a list, and name suggestions."""

from __future__ import annotations

from kqa.errors import InputError
from kqa.graph.draw import Link, neighbourhood_png
from kqa.graph.names import typed_key
from kqa.web.answer import png_data_url
from kqa.web.config import WebConfig
from kqa.web.watch import GraphWatch


class UnknownConceptError(InputError):
    """A concept the graph does not hold; carries names that contain the query, to offer instead."""

    def __init__(self, message: str, suggestions: list[str]):
        super().__init__(message)
        self.suggestions = suggestions


class GraphBrowser:
    """Read-only views of the served graph, always of its newest committed version."""

    def __init__(self, watch: GraphWatch, config: WebConfig):
        self.watch, self.config = watch, config

    def concept(self, name: str) -> dict:
        key = self._key(name)
        store = self.watch.current()
        concept = store.concept(key)
        if concept is None:
            close = self.suggest(key)
            hint = f" Did you mean: {', '.join(close)}?" if close else " Try another word, or pick one from the list."
            raise UnknownConceptError(f"`concept` {name.strip()!r} is not in the graph ({len(store.vocabulary())} "
                                      f"concepts).{hint}", close)
        edges = store.neighbours(key)
        shown = edges[: self.config.neighbourhood_edges]
        png = neighbourhood_png(concept.name, [Link(e.head, e.relation, e.tail) for e in shown])
        return {"concept": concept.name, "label": concept.label, "description": concept.description,
                "aliases": list(concept.aliases), "degree": concept.degree, "shown": len(shown),
                "png": png_data_url(png), "note": self.watch.note,
                "edges": [{"head": e.head, "relation": e.relation, "tail": e.tail, "confidence": e.confidence,
                           "status": e.status, "sources": [{"document": s.source, "sentence": s.sentence,
                                                            "extractor": s.extractor} for s in e.supports[:3]],
                           "support_count": len(e.supports)} for e in shown]}

    def suggest(self, text: str, limit: int = 10) -> list[str]:
        """Concept names starting with `text` first, then names containing it; shortest first."""
        key = typed_key(text)[: self.config.max_concept_chars]
        if not key:
            return []
        names = self.watch.current().vocabulary()
        starts = sorted((n for n in names if n.startswith(key)), key=lambda n: (len(n), n))[:limit]
        if len(starts) < limit:
            inside = sorted((n for n in names if key in n and not n.startswith(key)), key=lambda n: (len(n), n))
            starts += inside[: limit - len(starts)]
        return starts

    def stats(self) -> dict:
        store = self.watch.current()
        return {**store.stats(), "path": str(store.path), "generation": store.manifest.get("generation"),
                "updated": store.manifest.get("updated", ""), "note": self.watch.note}

    def _key(self, name: str) -> str:
        key = typed_key(str(name))  # normalized like the graph's concepts
        if not key:
            raise InputError("`concept` is empty: type a word from the graph, e.g. 'fish'.")
        if len(key) > self.config.max_concept_chars:
            raise InputError(f"`concept` has {len(key)} characters, more than the limit of "
                             f"{self.config.max_concept_chars} (`max_concept_chars`); concepts are short names.")
        return key
