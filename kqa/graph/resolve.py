"""Entity resolution: concepts that name the same thing become one node; the merged names stay as aliases.

Candidates, strongest first:
  wordnet     two lemmas whose most frequent WordNet sense is the same synset (the WordNet importer describes each
              lemma by the gloss of that sense, so: equal WordNet descriptions)
  morphology  the same words up to a plural ending or a hyphen ("dogs" ~ "dog", "ice-cream" ~ "ice cream")
  embedding   cosine of the names' sentence embeddings >= `threshold` (FAISS nearest neighbours)
Guards: never merge two concepts joined by Antonym, or co-hyponyms (a shared direct IsA parent) unless they are
synonyms (a Synonym edge, or the same WordNet sense), and - for morphology and embedding - never two WordNet lemmas
that WordNet gives different senses ("glasses" is not "glass"). Merges are logged operations (see aliases.py for
why they rewrite edges at read time) and undone exactly by `unmerge`.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from kqa.errors import InputError
from kqa.graph.config import ResolutionConfig
from kqa.graph.indexes import BESIDE, IndexSync, keep_in_step
from kqa.graph.inference import PREFIX as INFERRED
from kqa.graph.inference import retract_stale_inferences
from kqa.graph.model import ACTIVE, Changes, Merge, Unmerge
from kqa.graph.names import typed_key
from kqa.graph.state import GraphState
from kqa.graph.store import GraphStore
from kqa.graph.update import UpdateResult, open_graph
from kqa.graph.wordnet import WORDNET_NAME

METHODS = ("wordnet", "morphology", "embedding")


@dataclass
class MergeReport:
    merges: list[dict] = field(default_factory=list)  # {"alias", "canonical", "method", "score"}
    rejected: dict[str, int] = field(default_factory=dict)  # guard -> candidate pairs it stopped
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)

    def to_dict(self, limit: int = 100) -> dict:
        return {"merged": len(self.merges), "by_method": dict(Counter(m["method"] for m in self.merges)),
                "rejected": self.rejected, "merges": self.merges[:limit], "edges_added": len(self.added),
                "edges_removed": len(self.removed), "added_ids": list(self.added), "removed_ids": list(self.removed),
                "seconds": round(self.seconds, 3), "graph": self.counts}

    def summary(self) -> str:
        d = self.to_dict()
        c = self.counts
        lines = [f"merged     {d['merged']} names {d['by_method']}; rejected by guards {self.rejected}",
                 (f"edges      added {len(self.added)}, removed {len(self.removed)}; graph {c.get('nodes', 0)} "
                  f"concepts, {c.get('edges', 0)} edges")]
        lines += [f"  {m['alias']} -> {m['canonical']}  ({m['method']}, {m['score']:.2f})" for m in self.merges[:20]]
        return "\n".join(lines)


class _Facts:
    """What the guards and the canonical choice read from the graph (active edges, resolved names)."""

    def __init__(self, state: GraphState):
        self.degree: Counter[str] = Counter()
        self.parents: dict[str, set[str]] = defaultdict(set)
        self.pairs: dict[str, set[frozenset]] = {"Antonym": set(), "Synonym": set()}
        self.extracted: set[str] = set()
        for e in state.iter_edges():
            if e.status != ACTIVE:
                continue
            self.degree.update((e.head, e.tail))
            if e.relation == "IsA":
                self.parents[e.head].add(e.tail)
            elif e.relation in self.pairs:
                self.pairs[e.relation].add(frozenset((e.head, e.tail)))
            if any(s.extractor != WORDNET_NAME and not s.extractor.startswith(INFERRED) for s in e.supports):
                self.extracted.update((e.head, e.tail))
        wn_doc = state.names.get(WORDNET_NAME)
        self.gloss = {n: r.notes[wn_doc][1] for n, r in state.concepts.items()
                      if wn_doc in r.notes and r.notes[wn_doc][1] and state.resolve(n) == n}

    def guard(self, a: str, b: str, method: str) -> str | None:
        """Why `a` and `b` must not be merged, or None."""
        pair = frozenset((a, b))
        if pair in self.pairs["Antonym"]:
            return "antonym"
        same_sense = a in self.gloss and self.gloss.get(a) == self.gloss.get(b)
        if self.parents.get(a, set()) & self.parents.get(b, set()) and not (
                same_sense or pair in self.pairs["Synonym"]):
            return "co-hyponym"
        if method != "wordnet" and a in self.gloss and b in self.gloss and not same_sense:
            return "wordnet-distinct"
        return None

    def rank(self, name: str) -> tuple:
        """Higher is a better canonical name: more edges, a WordNet lemma, shorter, then alphabetical."""
        return self.degree[name], name in self.gloss, -len(name), [-ord(c) for c in name]


def singular_key(name: str) -> str:
    """'ice-cream cones' -> 'ice cream cone': hyphens as spaces, the last word without a plural ending."""
    words = name.replace("-", " ").split()
    if not words:
        return name
    w = words[-1]
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif w.endswith(("ses", "xes", "zes", "ches", "shes")) and len(w) > 4:
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    return " ".join(words[:-1] + [w])


def candidates(state: GraphState, facts: _Facts, config: ResolutionConfig) -> list[tuple[str, str, str, float]]:
    """(a, b, method, score) pairs, strongest method first."""
    out = []
    if config.wordnet:
        out += _grouped(facts.gloss.items(), "wordnet")
    if config.morphology:
        names = state.vocabulary()
        out += _grouped(((n, singular_key(n)) for n in names if re.search(r"[a-z]", n)), "morphology")
    if config.embedding:
        out += _embedding_pairs(state, facts, config)
    return out


def _grouped(keyed, method: str) -> list[tuple[str, str, str, float]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name, key in keyed:
        groups[key].append(name)
    return [(a, b, method, 1.0) for members in groups.values() if len(members) > 1
            for a, b in zip(sorted(members), sorted(members)[1:])]


def _embedding_pairs(state: GraphState, facts: _Facts, config: ResolutionConfig) -> list[tuple]:
    import faiss

    from kqa.retrieval.index import Embedder

    pool = facts.extracted if config.embedding_scope == "extracted" else set(state.vocabulary())
    names = sorted(pool, key=lambda n: (-facts.degree[n], n))[: config.max_concepts]
    if len(names) < 2:
        return []
    vectors = Embedder(config.embedder).encode(names)  # (N, dim), L2-normalized
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, neighbours = index.search(vectors, min(config.neighbours + 1, len(names)))
    out = []
    for i, (row, ids) in enumerate(zip(scores, neighbours)):
        for score, j in zip(row, ids):
            if j > i and score >= config.threshold:
                out.append((names[i], names[j], "embedding", float(score)))
    return out


def resolve_entities(graph: str | Path | GraphStore, config: ResolutionConfig = ResolutionConfig(), *,
                     index: IndexSync | None = BESIDE) -> MergeReport:
    """Find names of the same concept and merge each into its best-connected name (logged, reversible). `index`:
    keeps the indexes beside the graph in step (kqa.graph.indexes), as in merge and unmerge."""
    start = time.perf_counter()
    with open_graph(graph) as store:
        facts = _Facts(store.state)
        pairs = sorted(candidates(store.state, facts, config), key=lambda p: (METHODS.index(p[2]), -p[3], p[:2]))
        merges, rejected = _union(pairs, facts)
        changes = _commit_with_retraction(store, [Merge(m["alias"], m["canonical"]) for m in merges])
        counts = store.state.counts()
    keep_in_step(graph, index, sorted(changes.added), sorted(changes.removed))
    return MergeReport(merges, dict(rejected), tuple(sorted(changes.added)), tuple(sorted(changes.removed)),
                       time.perf_counter() - start, counts)


def _union(pairs: list[tuple], facts: _Facts) -> tuple[list[dict], Counter]:
    root: dict[str, str] = {}
    how: dict[str, tuple[str, float]] = {}

    def find(x: str) -> str:
        while root.get(x, x) != x:
            x = root[x]
        return x

    rejected: Counter[str] = Counter()
    for a, b, method, score in pairs:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        reason = facts.guard(a, b, method) or facts.guard(ra, rb, method)
        if reason:
            rejected[reason] += 1
            continue
        keep, drop = (ra, rb) if facts.rank(ra) >= facts.rank(rb) else (rb, ra)
        root[drop] = keep
        how[drop] = (method, score)
    merges = [{"alias": n, "canonical": find(n), "method": how[n][0], "score": round(how[n][1], 4)}
              for n in sorted(root)]
    return merges, rejected


def unmerge(graph: str | Path | GraphStore, alias: str, *, index: IndexSync | None = BESIDE) -> UpdateResult:
    """Undo the merge of `alias`: its edges show under its own name again, exactly as before the merge."""
    alias = typed_key(alias)
    start = time.perf_counter()
    with open_graph(graph) as store:
        known = store.aliases()
        if alias not in known:
            some = ", ".join(sorted(known)[:10]) or "none"
            raise InputError(f"{alias!r} is not a merged name in {graph}; merged names: {some}"
                             f"{' ...' if len(known) > 10 else ''}.")
        changes = _commit_with_retraction(store, [Unmerge(alias)])
        counts = store.state.counts()
    keep_in_step(graph, index, sorted(changes.added), sorted(changes.removed))
    return UpdateResult(added=tuple(sorted(changes.added)), removed=tuple(sorted(changes.removed)),
                        seconds=time.perf_counter() - start, counts=counts, details={"unmerged": alias})


def merge(graph: str | Path | GraphStore, alias: str, canonical: str, *, index: IndexSync | None = BESIDE
          ) -> UpdateResult:
    """Merge `alias` into `canonical` by hand (no guard: the user decides)."""
    alias, canonical = typed_key(alias), typed_key(canonical)
    start = time.perf_counter()
    with open_graph(graph) as store:
        target = store.resolve(canonical)
        if alias in store.aliases() or target == alias or store.concept(alias) is None:
            raise InputError(f"cannot merge {alias!r} into {canonical!r}: {alias!r} must be a concept of the graph "
                             "that is not merged already, and not the concept it would merge into.")
        changes = _commit_with_retraction(store, [Merge(alias, target)])
        counts = store.state.counts()
    keep_in_step(graph, index, sorted(changes.added), sorted(changes.removed))
    return UpdateResult(added=tuple(sorted(changes.added)), removed=tuple(sorted(changes.removed)),
                        seconds=time.perf_counter() - start, counts=counts, details={"merged": f"{alias} -> {target}"})


def _commit_with_retraction(store, ops) -> Changes:
    total = Changes()
    for batch in (store.commit(ops), retract_stale_inferences(store)):
        for tid in batch.removed:
            total.deleted(tid)
        for tid in batch.added:
            total.created(tid)
    return total
