"""Graph retrieval: edges incident to linked concepts and paths of up to two hops from question to choice concepts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from kqa.graph.model import Edge
from kqa.retrieval.facts import is_retrievable

# What the paths find in a given graph with given settings. Readers stored with facts an earlier version found are
# retrained, not reused (kqa.evaluation.lift). 2: a direct edge is found on either concept's list (session 48).
RULES_VERSION = 2


class GraphView(Protocol):
    def neighbours(self, name: str, limit: int | None = None) -> list[Edge]:
        """Edges incident to `name`, most confident first; the first `limit` when given."""
        ...


class PathConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_neighbours: int = Field(200, gt=0, description="Edges read per concept; hubs are cut to their most confident "
                                "(an edge joining a question and a choice concept is found on either one's list).")
    direct_weight: float = Field(1.0, ge=0, description="Score factor of an edge joining a question and a choice "
                                 "concept (0 turns such edges off, as for the two below).")
    two_hop_weight: float = Field(0.6, ge=0, description="Score factor of each edge on a 2-hop question->choice path.")
    choice_weight: float = Field(0.3, ge=0, description="Score factor of other edges incident to a choice concept.")
    relation_weights: dict[str, float] = Field(
        {"RelatedTo": 0.5, "Synonym": 0.8}, description="Per-relation multipliers; unlisted relations count 1.0."
    )


@dataclass(frozen=True)
class ScoredEdge:
    edge: Edge
    score: float
    kind: str  # "direct" | "two-hop" | "choice"


class PathFinder:
    """Score the edges that connect question concepts to one choice's concepts."""

    def __init__(self, graph: GraphView, config: PathConfig = PathConfig()):
        self.graph = graph
        self.config = config

    def run(self, question_concepts: Sequence[str], choice_concepts: Sequence[str]) -> list[ScoredEdge]:
        return self.run_choices(question_concepts, [choice_concepts])[0]

    def run_choices(self, question_concepts: Sequence[str],
                    choices: Sequence[Sequence[str]]) -> list[list[ScoredEdge]]:
        """`run` for each choice of one question, reading each concept's edges once rather than once per choice."""
        read: dict[str, dict[str, list[Edge]]] = {}

        def adjacent(concept: str) -> dict[str, list[Edge]]:
            if concept not in read:
                read[concept] = self._adjacent(concept)
            return read[concept]

        q_adj = {q: adjacent(q) for q in question_concepts}
        return [self._score(q_adj, [(c, adjacent(c)) for c in concepts]) for concepts in choices]

    def _score(self, q_adj: dict[str, dict[str, list[Edge]]],
               choice_adj: list[tuple[str, dict[str, list[Edge]]]]) -> list[ScoredEdge]:
        best: dict[str, ScoredEdge] = {}
        for c, c_adj in choice_adj:
            for edge in (e for edges in c_adj.values() for e in edges):
                self._keep(best, edge, self.config.choice_weight, "choice")
            for q, adj in q_adj.items():
                if q == c:  # the choice repeats a question concept: nothing joins them, and every edge of it
                    continue  # would pass for a two-hop path
                # either side's list: a hub's is cut to its `max_neighbours` most confident edges, and the edge
                # that joins it to a rarer concept is then on the rarer one's list only (423 of the 1221 CSQA
                # questions get other facts over graphs/cn4-csqa, docs/results.md)
                for edge in [*adj.get(c, ()), *c_adj.get(q, ())]:
                    self._keep(best, edge, self.config.direct_weight, "direct")
                for middle in set(adj) & set(c_adj) - {q, c}:  # q - middle - c
                    for edge in adj[middle] + c_adj[middle]:
                        self._keep(best, edge, self.config.two_hop_weight, "two-hop")
        return sorted(best.values(), key=lambda s: (-s.score, s.edge.id))

    def _adjacent(self, concept: str) -> dict[str, list[Edge]]:
        """Neighbour concept -> the retrievable edges joining it to `concept`."""
        out: dict[str, list[Edge]] = {}
        for edge in self.graph.neighbours(concept, limit=self.config.max_neighbours):
            if is_retrievable(edge):
                other = edge.tail if edge.head == concept else edge.head
                out.setdefault(other, []).append(edge)
        return out

    def _keep(self, best: dict[str, ScoredEdge], edge: Edge, weight: float, kind: str) -> None:
        score = weight * self.config.relation_weights.get(edge.relation, 1.0) * edge.confidence
        if score <= 0:  # a weight of 0 turns that kind of edge (or relation) off
            return
        if edge.id not in best or best[edge.id].score < score:
            best[edge.id] = ScoredEdge(edge, score, kind)
