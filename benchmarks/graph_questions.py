"""Multiple-choice questions made from the graph's own edges, as more training data for a reader (issue #16; the
idea of Ma et al. 2021, "Knowledge-driven data construction for zero-shot evaluation in commonsense QA").

    python -m benchmarks.graph_questions --graph graphs/cn4-csqa --n 2000 --out runs/graph-questions.jsonl
    python -m benchmarks.bench_lift ... --set 'train.extra_data=[{"data": "runs/graph-questions.jsonl"}]'

An edge (head, relation, tail) becomes a question about the head in the relation's question form ("Where would you
find a jellyfish?"), its tail the answer. Of the four wrong choices, up to two are the head's neighbours by another
relation that are the tail of this relation elsewhere (a place the jellyfish is *not* said to be at, but a place:
the reader must read the relation, not only whether a choice connects), the rest tails of the relation with no edge
to the head. Only confident edges (two votes or more in ConceptNet 4), one question per head, seeded. No label of any
evaluation set is read: the questions come from the graph alone. Written in the official CSQA JSONL format.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kqa.graph.store import GraphStore
from kqa.retrieval.verbalize import with_article

# relation -> question about the head ({H}: with an article, {h}: bare, as kqa.retrieval.verbalize writes them)
QUESTIONS = {
    "AtLocation": "Where would you find {H}?",
    "UsedFor": "What is {H} used for?",
    "CapableOf": "What can {H} do?",
    "Causes": "What can {h} cause?",
    "HasSubevent": "What happens when you {h}?",
    "HasFirstSubevent": "What do you do first when you {h}?",
    "HasPrerequisite": "What do you need in order to {h}?",
    "MotivatedByGoal": "Why would someone {h}?",
    "Desires": "What does {H} want?",
    "CausesDesire": "What would {h} make you want to do?",
    "PartOf": "What is {H} part of?",
    "HasA": "What does {H} have?",
    "HasProperty": "What is {H} like?",
    "MadeOf": "What is {H} made of?",
    "ReceivesAction": "What can you do to {H}?",
    "LocatedNear": "What is {H} near?",
}
LABELS = "ABCDE"


@dataclass(frozen=True)
class Edges:
    """The confident edges of the asked relations, and what the choices are drawn from."""

    asked: list[tuple[str, str, str]]  # (head, relation, tail)
    neighbours: dict[str, set[str]]  # concept -> every concept one edge away (any relation, either way)
    tails: dict[str, list[str]]  # relation -> its tails, once per edge (frequent answers drawn more often)
    answers: dict[tuple[str, str], set[str]]  # (head, relation) -> its tails


def read_edges(graph: Path, min_confidence: float, max_words: int) -> Edges:
    neighbours, tails, answers, asked = defaultdict(set), defaultdict(list), defaultdict(set), []
    with GraphStore.open(graph) as store:
        for edge in store.edges():
            if edge.status != "active":
                continue
            neighbours[edge.head].add(edge.tail)
            neighbours[edge.tail].add(edge.head)
            if edge.relation not in QUESTIONS:
                continue
            tails[edge.relation].append(edge.tail)
            answers[edge.head, edge.relation].add(edge.tail)
            short = max(len(edge.head.split()), len(edge.tail.split())) <= max_words
            if short and edge.confidence >= min_confidence and edge.head not in edge.tail and edge.tail not in edge.head:
                asked.append((edge.head, edge.relation, edge.tail))
    return Edges(sorted(asked), neighbours, tails, answers)


def question(edges: Edges, head: str, relation: str, tail: str, rng: random.Random, number: int) -> dict | None:
    """One CSQA-format record, or None when the relation has too few other tails to draw from."""
    wrong_ones = edges.answers.get((head, relation), set()) | {head, tail}
    near_by = edges.neighbours.get(head, set())
    kinds = set(edges.tails[relation])
    near = sorted(n for n in near_by if n in kinds and n not in wrong_ones)
    choices = rng.sample(near, min(2, len(near)))
    for _ in range(50 * 4):  # rejection sampling; a relation with a handful of tails gives up
        if len(choices) == 4:
            break
        other = rng.choice(edges.tails[relation])
        if other not in wrong_ones and other not in near_by and other not in choices:
            choices.append(other)
    if len(choices) < 4:
        return None
    choices.insert(rng.randrange(5), tail)
    stem = QUESTIONS[relation].format(H=with_article(head), h=head)
    return {"id": f"graph-{number:06d}", "answerKey": LABELS[choices.index(tail)],
            "question": {"stem": stem, "question_concept": head,
                         "choices": [{"label": label, "text": text} for label, text in zip(LABELS, choices)]}}


def make_questions(edges: Edges, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    order = list(edges.asked)
    rng.shuffle(order)
    out, heads = [], set()
    for head, relation, tail in order:
        if len(out) == n:
            break
        if head in heads:
            continue  # one question per head: many concepts rather than many questions about one
        record = question(edges, head, relation, tail, rng, len(out))
        if record is not None:
            out.append(record)
            heads.add(head)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", type=Path, default=Path("graphs/cn4-csqa"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-confidence", type=float, default=0.77, help="ConceptNet 4: 0.77 is two votes")
    parser.add_argument("--max-words", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    edges = read_edges(args.graph, args.min_confidence, args.max_words)
    records = make_questions(edges, args.n, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    print(f"{len(records)} questions from {len(edges.asked)} confident edges -> {args.out}")


if __name__ == "__main__":
    main()
