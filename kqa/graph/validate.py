"""Validation: find junk and contradictions in a graph and, on request, quarantine them.

A quarantined edge keeps every support in the store (nothing is lost) but gets the status "quarantined:<reason>",
so retrieval and the fact index skip it; `restore` makes it active again. Checks, in the order that names an edge's
reason when several apply:

  self-loop      head == tail
  contradiction  X Antonym Y together with X IsA Y or X Synonym Y (either direction): the less confident side is
                 quarantined, both on a tie
  isa-cycle      IsA cycles: the weakest edge of each cycle until none is left (untrusted edges go first)
A contradiction or cycle made only of trusted edges (WordNet's lemma-level IsA mixes the senses of a word, so such
cycles are ambiguity, not error) is counted in `trusted_conflicts` and left alone.
  pronoun, number, stop-word, fragment   a head or tail that is not a concept (untrusted edges only)
  low-confidence, low-support            below `min_confidence` / `min_supports` (untrusted edges only)
Concepts with no active edge are reported (a concept cannot be quarantined: it lives while a document mentions it).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from kqa.errors import InputError
from kqa.graph.config import ValidationConfig
from kqa.graph.corpus import Skipped
from kqa.graph.indexes import BESIDE, IndexSync, keep_in_step
from kqa.graph.inference import retract_stale_inferences
from kqa.graph.model import ACTIVE, QUARANTINED, Edge, SetStatus, quarantined
from kqa.graph.names import is_concept_stop_word
from kqa.graph.store import GraphStore
from kqa.graph.update import UpdateResult, open_graph

REASONS = ("self-loop", "contradiction", "isa-cycle", "pronoun", "number", "stop-word", "fragment",
           "low-confidence", "low-support")
PRONOUNS = frozenset(
    "i me my mine myself you your yours yourself yourselves he him his himself she her hers herself it its itself we "
    "us our ours ourselves they them their theirs themselves this that these those who whom whose which what "
    "something someone somebody anything anyone anybody everything everyone everybody nothing nobody one oneself "
    "thing".split())
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion first "
    "second third half dozen".split())
# words the concept key keeps inside names ("many people", "go out", "under water") that name no concept by themselves:
# "not much", "up down", "before two" are junk, "go", "get up", "top shelf" are concepts (measured on ConceptNet 4)
NOT_ALONE = frozenset(
    "not no much many same own other others another every something after against around before between down done "
    "last least off out over through together under up will without".split())
NUMBER = re.compile(r"^[\d.,:/%+-]+(s|th|st|nd|rd)?$")


@dataclass
class ValidationReport:
    """What `validate_graph` found; `removed`/`added` are the edge ids that left/entered the retrievable set."""

    checked: int = 0
    already_quarantined: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)
    trusted_conflicts: int = 0  # contradictions and cycles among trusted edges only: reported, not flagged
    isolated_concepts: int = 0
    isolated_examples: list[str] = field(default_factory=list)
    quarantined: bool = False
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"edges_checked": self.checked, "already_quarantined": self.already_quarantined,
                "flagged": self.flagged, "flagged_total": sum(self.flagged.values()), "examples": self.examples,
                "trusted_conflicts": self.trusted_conflicts,
                "isolated_concepts": self.isolated_concepts, "isolated_examples": self.isolated_examples,
                "quarantined": self.quarantined, "edges_removed": len(self.removed), "removed_ids": list(self.removed),
                "edges_added": len(self.added), "added_ids": list(self.added), "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        action = "quarantined" if self.quarantined else "flagged (dry run; --quarantine to act)"
        lines = [f"checked    {self.checked} active edges ({self.already_quarantined} already quarantined)",
                 f"{action}: {sum(self.flagged.values())}"]
        for reason, n in self.flagged.items():
            sample = "; ".join(f"{e['head']} --{e['relation']}--> {e['tail']}" for e in self.examples[reason][:3])
            lines.append(f"  {reason:<15} {n:>7}   e.g. {sample}")
        lines.append(f"trusted    {self.trusted_conflicts} contradictions/cycles among trusted edges (left alone)")
        lines.append(f"isolated   {self.isolated_concepts} concepts with no active edge")
        return "\n".join(lines)


def validate_graph(graph: str | Path | GraphStore, config: ValidationConfig = ValidationConfig(),
                   quarantine: bool = False, *, index: IndexSync | None = BESIDE) -> ValidationReport:
    """Check every active edge; with `quarantine`, set the status of flagged edges to "quarantined:<reason>".

    `graph`: a folder, or a GraphStore open for writing (left open), as for every function of this kind. `index`:
    keeps the indexes beside the graph in step with what quarantine removed (kqa.graph.indexes)."""
    start = time.perf_counter()
    with open_graph(graph) as store:
        edges = [e for e in store.edges()]
        active = [e for e in edges if e.status == ACTIVE]
        reasons, trusted_conflicts = find_problems(active, config)
        report = _report(active, reasons, config)
        report.trusted_conflicts = trusted_conflicts
        report.already_quarantined = len(edges) - len(active)
        touched = {c for e in active for c in (e.head, e.tail)}
        isolated = sorted(store.vocabulary() - touched)
        report.isolated_concepts, report.isolated_examples = len(isolated), isolated[:config.list_limit]
        if quarantine and reasons:
            store.commit([SetStatus(tid, quarantined(reasons[tid])) for tid in sorted(reasons)])
            stale = retract_stale_inferences(store)
            report.removed = tuple(sorted(set(reasons) | stale.removed))
            report.quarantined = True
        elif quarantine:
            report.quarantined = True
    keep_in_step(graph, index, report.added, report.removed)
    report.seconds = time.perf_counter() - start
    return report


def find_problems(edges: list[Edge], config: ValidationConfig) -> tuple[dict[str, str], int]:
    """(edge id -> the first reason, in REASONS order, it is flagged for; conflicts among trusted edges only)."""
    extractors = set(config.trusted_extractors)
    trusted = {e.id for e in edges if any(s.extractor in extractors for s in e.supports)}
    found: dict[str, str] = {}
    for e in edges:
        if e.head == e.tail:
            found[e.id] = "self-loop"
    contradictions, conflicts = _contradictions(edges, trusted)
    for tid in contradictions:
        found.setdefault(tid, "contradiction")
    breakers, cycles = _isa_cycle_breakers([e for e in edges if e.id not in found], trusted)
    for tid in breakers:
        found.setdefault(tid, "isa-cycle")
    for e in edges:
        if e.id in found or e.id in trusted:
            continue
        reason = concept_problem(e.head, config) or concept_problem(e.tail, config)
        if reason is None and e.confidence < config.min_confidence:
            reason = "low-confidence"
        if reason is None and len({s.source for s in e.supports}) < config.min_supports:
            reason = "low-support"
        if reason is not None:
            found[e.id] = reason
    return found, conflicts + cycles


def concept_problem(name: str, config: ValidationConfig = ValidationConfig()) -> str | None:
    """Why `name` is not a concept (pronoun, number, stop-word, fragment), or None."""
    words = name.split()
    if name in PRONOUNS:
        return "pronoun"
    if all(NUMBER.match(w) or w in NUMBER_WORDS for w in words):
        return "number"
    # the concept key's stop words ("bottom", "part" are concepts), the words above, numbers: "after two" is none
    if all(is_concept_stop_word(w) or w in NOT_ALONE or w in NUMBER_WORDS for w in words):
        return "stop-word"
    letters = re.sub(r"[\W_]", "", name)  # letters and digits of any script: "ça" is a word, "x" a fragment
    if (len(letters) <= config.max_fragment_chars or not re.search(r"[^\W\d_]", name)
            or name[0] in "-'.,)" or name[-1] in "-'(,"
            or name.count("(") != name.count(")") or name.count('"') % 2):
        return "fragment"
    return None


def _contradictions(edges: list[Edge], trusted: set[str]) -> tuple[set[str], int]:
    antonyms: dict[frozenset, list[Edge]] = {}
    for e in edges:
        if e.relation == "Antonym":
            antonyms.setdefault(frozenset((e.head, e.tail)), []).append(e)
    out, conflicts = set(), 0
    for e in edges:
        if e.relation in ("IsA", "Synonym") and (rivals := antonyms.get(frozenset((e.head, e.tail)))):
            if e.id in trusted and all(r.id in trusted for r in rivals):
                conflicts += 1
                continue
            best_rival = max(r.confidence for r in rivals)
            if e.confidence <= best_rival:
                out.add(e.id)
            if e.confidence >= best_rival:
                out.update(r.id for r in rivals if r.confidence <= e.confidence)
    return out, conflicts


def _isa_cycle_breakers(edges: list[Edge], trusted: set[str]) -> tuple[list[str], int]:
    """Remove the weakest edge of an IsA cycle until no cycle is left: (removed untrusted ids, trusted-only cycles)."""
    g = nx.DiGraph()
    for e in edges:
        if e.relation == "IsA":
            g.add_edge(e.head, e.tail, key=(e.id in trusted, e.confidence, len(e.supports), e.id))
    out, trusted_cycles = [], 0
    for component in [c for c in nx.strongly_connected_components(g) if len(c) > 1]:
        sub = g.subgraph(component).copy()
        while True:
            try:
                cycle = nx.find_cycle(sub)
            except nx.NetworkXNoCycle:
                break
            u, v = min(cycle, key=lambda uv: sub.edges[uv]["key"])
            if sub.edges[u, v]["key"][0]:
                trusted_cycles += 1  # every edge of the cycle is trusted: break it for the search, flag nothing
            else:
                out.append(sub.edges[u, v]["key"][3])
            sub.remove_edge(u, v)
    return out, trusted_cycles


def _report(active: list[Edge], reasons: dict[str, str], config: ValidationConfig) -> ValidationReport:
    by_id = {e.id: e for e in active}
    counts = Counter(reasons.values())
    examples: dict[str, list[dict]] = {r: [] for r in REASONS if counts[r]}
    for tid in sorted(reasons):
        bucket = examples[reasons[tid]]
        if len(bucket) < config.list_limit:
            e = by_id[tid]
            bucket.append({"id": tid, "head": e.head, "relation": e.relation, "tail": e.tail,
                           "confidence": e.confidence})
    return ValidationReport(checked=len(active), flagged={r: counts[r] for r in REASONS if counts[r]},
                            examples=examples)


def restore(graph: str | Path | GraphStore, ids: list[str] | None = None, reason: str | None = None, *,
            index: IndexSync | None = BESIDE) -> UpdateResult:
    """Make quarantined edges active again: the given ids, or every edge quarantined for `reason` ("all": any).
    `index`: as validate_graph's."""
    if not ids and not reason:
        raise InputError("restore needs edge ids or a reason; reasons are 'all' or one of " + ", ".join(REASONS))
    if reason and reason != "all" and reason not in REASONS:
        raise InputError(f"Unknown reason {reason!r}. Valid reasons are: all, {', '.join(REASONS)}.")
    start = time.perf_counter()
    with open_graph(graph) as store:
        wanted = set(ids or ())
        chosen = [e.id for e in store.edges() if e.status.startswith(QUARANTINED) and (
            e.id in wanted or reason == "all" or e.status == quarantined(reason or ""))]
        store.commit([SetStatus(tid, ACTIVE) for tid in sorted(chosen)])
        counts = store.state.counts()
    missing = tuple(Skipped(t, "no quarantined edge with this id") for t in sorted(wanted - set(chosen)))
    keep_in_step(graph, index, tuple(sorted(chosen)), ())
    return UpdateResult(skipped=missing, added=tuple(sorted(chosen)), seconds=time.perf_counter() - start,
                        counts=counts, details={"restored": len(chosen)})
