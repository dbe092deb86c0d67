"""Read-only questions to a graph folder: counts, and one concept with its edges and their sources."""

from __future__ import annotations

from pathlib import Path

from kqa.errors import InputError
from kqa.graph.names import typed_key
from kqa.graph.store import GraphStore


def graph_stats(graph: str | Path) -> dict:
    with GraphStore.open(graph) as store:
        return store.stats()


def describe_concept(graph: str | Path, name: str, limit: int = 20) -> dict:
    """The concept `name` (as typed: kqa.graph.names.typed_key), its description and up to `limit` edges."""
    key = typed_key(name)
    with GraphStore.open(graph) as store:
        concept = store.concept(key)
        if concept is None:
            raise InputError(f"concept {name!r} (looked up as {key!r}) is not in the graph at {graph} "
                             f"({len(store.state.concepts)} concepts).")
        edges = store.neighbours(key, limit=limit)
    return {"concept": concept.name, "label": concept.label, "description": concept.description,
            "degree": concept.degree,
            "edges": [{"id": e.id, "head": e.head, "relation": e.relation, "tail": e.tail, "status": e.status,
                       "confidence": e.confidence,
                       "sources": [{"document": s.source, "sentence": s.sentence, "extractor": s.extractor,
                                    "confidence": s.confidence} for s in e.supports]}
                      for e in edges]}


def format_concept(view: dict) -> str:
    lines = [f"{view['concept']}" + (f" [{view['label']}]" if view["label"] else "") + f"  ({view['degree']} edges)"]
    if view["description"]:
        lines.append(f"  {view['description']}")
    for e in view["edges"]:
        lines.append(f"  {e['head']} --{e['relation']}--> {e['tail']}  ({e['confidence']:.2f}, "
                     f"{len(e['sources'])} source{'s' if len(e['sources']) != 1 else ''})")
        if e["sources"] and e["sources"][0]["sentence"]:
            lines.append(f"      \"{e['sources'][0]['sentence'][:100]}\"")
    return "\n".join(lines)
