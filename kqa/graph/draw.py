"""Pictures of a graph as PNG bytes: a concept's neighbourhood, and the evidence behind an answer.

One module draws for both the web page (`kqa serve`) and the CLI (`kqa graph show --png`, `kqa ask --png`), so the
files and the page show the same picture. matplotlib's Agg canvas on a bare `Figure` (no pyplot state); a lock
serializes drawing because matplotlib is not thread-safe and the web server draws from worker threads.
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kqa.errors import InputError
from kqa.types import Evidence, Prediction

_LOCK = threading.Lock()
QUESTION, MIDDLE, CHOICE, ANSWER, CENTER = "#cfe2ff", "#e9ecef", "#ffe5b4", "#b7e4c7", "#ffd6a5"
NODE_SIZE = 2600  # points^2: room for two short lines of label inside the circle


@dataclass(frozen=True)
class Link:
    """One edge to draw: head --relation--> tail; `strong` edges are drawn darker and thicker."""

    head: str
    relation: str
    tail: str
    strong: bool = False


def neighbourhood_png(center: str, links: Sequence[Link], title: str = "") -> bytes:
    """`center` in the middle, its neighbours on a circle, one arrow per edge labelled with its relation."""
    graph = _graph(links)
    graph.add_node(center)
    others = sorted(n for n in graph if n != center)
    pos = nx.shell_layout(graph, [[center], others]) if others else {center: (0.0, 0.0)}
    colors = {n: CENTER if n == center else MIDDLE for n in graph}
    caption = f"{len(links)} edge{'s' if len(links) != 1 else ''} shown; arrows point from head to tail"
    return _render(graph, pos, colors, title or f"Neighbourhood of '{center}'", caption, legend=())


def evidence_png(prediction: Prediction, evidence: Evidence, title: str = "") -> bytes:
    """Question concepts (left) -> facts (arrows, via bridging concepts) -> choice concepts (right).

    The chosen answer's concepts are green and the facts retrieved for it are drawn strong.
    """
    chosen = next(i for i, c in enumerate(prediction.choices) if c.label == prediction.label)
    links = _evidence_links(prediction, chosen)
    graph = _graph(links)
    question = [c for c in evidence.question_concepts]
    per_choice = list(evidence.choice_concepts) or [() for _ in prediction.choices]
    answer = set(per_choice[chosen]) if chosen < len(per_choice) else set()
    choice_nodes = [n for names in per_choice for n in names if n not in question]
    graph.add_nodes_from(question + choice_nodes)
    pos = _columns(graph, question, list(dict.fromkeys(choice_nodes)))
    colors = {n: QUESTION if n in question else ANSWER if n in answer else CHOICE if n in choice_nodes else MIDDLE
              for n in graph}
    legend = [("question concept", QUESTION), ("concept of the chosen answer", ANSWER),
              ("concept of another choice", CHOICE), ("other concept", MIDDLE)]
    best = prediction.choices[chosen]
    caption = (f"answer {best.label}. {best.text} (p={best.probability:.2f}); {len(links)} fact"
               f"{'s' if len(links) != 1 else ''}; bold arrows: facts retrieved for the answer")
    return _render(graph, pos, colors, title or "Evidence: question concepts -> facts -> choice concepts", caption,
                   legend)


def _evidence_links(prediction: Prediction, chosen: int) -> list[Link]:
    """Every retrieved fact once; a fact retrieved for the chosen answer is strong wherever else it also appears.
    Corpus sentences (origin "sentence") join no concepts: they are not drawn."""
    strong = {f.id or f.text for f in prediction.choices[chosen].evidence}
    seen: dict[str, Link] = {}
    for choice in prediction.choices:
        for f in (f for f in choice.evidence if f.origin != "sentence"):
            key = f.id or f.text
            seen.setdefault(key, Link(f.head, f.relation, f.tail, key in strong))
    return list(seen.values())


def _graph(links: Sequence[Link]) -> nx.DiGraph:
    """A DiGraph whose edge label joins the relations of parallel edges (e.g. 'IsA, PartOf')."""
    graph = nx.DiGraph()
    for link in links:
        if graph.has_edge(link.head, link.tail):
            data = graph.edges[link.head, link.tail]
            data["label"] = ", ".join(dict.fromkeys(data["label"].split(", ") + [link.relation]))
            data["strong"] = data["strong"] or link.strong
        else:
            graph.add_edge(link.head, link.tail, label=link.relation, strong=link.strong)
    return graph


def _columns(graph: nx.DiGraph, left: list[str], right: list[str]) -> dict[str, tuple[float, float]]:
    """Question concepts at x=0, bridging concepts at x=1, choice concepts at x=2, concepts that only touch a choice
    at x=3. Each column runs top to bottom; the free columns are ordered by their neighbours' heights (fewer
    crossings)."""
    pos = _column(left, 0.0) | _column(right, 2.0)
    rest = [n for n in graph if n not in pos]
    choice_only = {n for n in rest if set(nx.all_neighbors(graph, n)) and set(nx.all_neighbors(graph, n)) <= set(right)}
    for x, column in ((1.0, [n for n in rest if n not in choice_only]), (3.0, sorted(choice_only))):
        height = {n: _mean([pos[m][1] for m in nx.all_neighbors(graph, n) if m in pos], 0.0) for n in column}
        y = float("inf")
        for name in sorted(column, key=lambda n: (-height[n], n)):  # top to bottom, at least 1 apart
            y = min(height[name], y - 1.0)
            pos[name] = (x, y)
    return pos


def _column(names: list[str], x: float) -> dict[str, tuple[float, float]]:
    return {name: (x, -(i - (len(names) - 1) / 2)) for i, name in enumerate(names)}  # centred on y = 0


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _render(graph: nx.DiGraph, pos: dict, colors: dict, title: str, caption: str, legend) -> bytes:
    # names are user text: "$x$" must be drawn as typed, not parsed as mathtext (a stray "\\foo$" raised ValueError)
    with _LOCK, rc_context({"text.parse_math": False}):
        fig = Figure(figsize=(9, 6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.02, 0.12, 0.96, 0.8))
        ax.set_axis_off()
        ax.set_title(title, fontsize=13)
        fig.text(0.5, 0.015, caption, ha="center", fontsize=9, color="#555555")
        _draw(graph, pos, colors, ax)
        if legend:
            handles = [Line2D([], [], marker="o", linestyle="", markersize=10, markerfacecolor=c,
                              markeredgecolor="#666666", label=name) for name, c in legend]
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=len(handles),
                      fontsize=8, frameon=False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw(graph: nx.DiGraph, pos: dict, colors: dict, ax) -> None:
    if not graph:
        ax.text(0.5, 0.5, "nothing to draw: no concepts or facts were found", ha="center", va="center",
                fontsize=12, color="#555555", transform=ax.transAxes)
        return
    _pad(ax, pos)
    nodes = list(graph)
    nx.draw_networkx_nodes(graph, pos, nodelist=nodes, node_color=[colors[n] for n in nodes], node_size=NODE_SIZE,
                           edgecolors="#666666", ax=ax)
    nx.draw_networkx_labels(graph, pos, labels={n: _wrap(n) for n in nodes}, font_size=8, ax=ax)
    # both directions between two concepts: bend them apart so neither hides the other
    style = {e: "arc3,rad=0.15" if graph.has_edge(e[1], e[0]) else "arc3" for e in graph.edges}
    for strong in (False, True):
        edges = [e for e, d in graph.edges.items() if d["strong"] == strong]
        for connection in {style[e] for e in edges}:
            group = [e for e in edges if style[e] == connection]
            nx.draw_networkx_edges(graph, pos, edgelist=group, node_size=NODE_SIZE, arrows=True, arrowsize=14,
                                   width=2.4 if strong else 1.0, edge_color="#2d6a4f" if strong else "#999999",
                                   connectionstyle=connection, ax=ax)
            nx.draw_networkx_edge_labels(graph, pos, edge_labels={e: graph.edges[e]["label"] for e in group},
                                         font_size=7, connectionstyle=connection, ax=ax,
                                         bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none"})


def _pad(ax, pos: dict) -> None:
    """Leave room around the outermost nodes so their circles are not clipped."""
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    dx, dy = max(max(xs) - min(xs), 1.0) * 0.15, max(max(ys) - min(ys), 1.0) * 0.15
    ax.set_xlim(min(xs) - dx, max(xs) + dx)
    ax.set_ylim(min(ys) - dy, max(ys) + dy)


def _wrap(name: str, width: int = 12, lines: int = 3) -> str:
    parts = textwrap.wrap(name, width) or [name]
    return "\n".join(parts[:lines]) + ("…" if len(parts) > lines else "")


def write_concept_png(view: dict, path: str | Path) -> Path:
    """Draw a `describe_concept` view (a concept and its edges) to `path` (for `kqa graph show --png`)."""
    links = [Link(e["head"], e["relation"], e["tail"]) for e in view["edges"]]
    return write_png(path, neighbourhood_png(view["concept"], links))


def write_png(path: str | Path, png: bytes) -> Path:
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise InputError(f"--png {path}: the folder {path.parent} does not exist; create it or choose another path.")
    path.write_bytes(png)
    return path
