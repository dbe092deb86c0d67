"""Child process of the crash test: applies the deterministic batches step by step until killed.

Usage: python crash_child.py GRAPH_DIR N_STEPS. Resumes after the last committed step (recorded in the graph).
"""

from __future__ import annotations

import random
import sys

from kqa.graph.model import AddDocument, Document, Operation, RemoveName, Triple

STEP_NAME = "__step__"
COMPACT_MIN_BYTES = 64 << 10  # small, so that compactions happen (and get killed) too


def step_ops(k: int, names: dict[str, str]) -> list[Operation]:
    """Batch k: 60 documents (re)written with new content, a few removed, and the step marker."""
    rng = random.Random(k)
    ops: list[Operation] = []
    for _ in range(60):
        name = f"doc{rng.randrange(150)}"
        triples = tuple(Triple(f"c{rng.randrange(400)}", rng.choice(["IsA", "HasA", "UsedFor"]),
                               f"c{rng.randrange(400)}", f"sentence {k} {i}", "crash-test", 0.5) for i in range(15))
        ops.append(AddDocument(Document(f"h{k}-{name}", name, triples)))
    for _ in range(5):
        name = f"doc{rng.randrange(150)}"
        if name in names:
            ops.append(RemoveName(names[name], name))
    ops.append(AddDocument(Document(f"step-{k}", STEP_NAME)))
    return ops


def next_step(names: dict[str, str]) -> int:
    marker = names.get(STEP_NAME)
    return int(marker.split("-")[1]) + 1 if marker else 0


def main(graph: str, steps: int) -> None:
    from kqa.graph.store import GraphStore

    with GraphStore.open(graph, writable=True, create=True, compact_min_bytes=COMPACT_MIN_BYTES) as store:
        print("ready", flush=True)  # the parent's random kill delay starts now, not at process start
        for k in range(next_step(store.state.names), steps):
            store.commit(step_ops(k, store.state.names))
            print(k, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
