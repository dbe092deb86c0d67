"""Metrics over prediction records (the lines of predictions.jsonl): pure functions, seeded where random.

A record has: id, source, gold (None in test sets), predicted, concept, linked_concepts (None without retrieval) and
choices [{label, score, probability, evidence: [{origin, ...}]}]. Accuracy-type metrics use the labelled records only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

GRAPH_ORIGINS = ("direct", "two-hop")  # facts on a graph path from a question concept to a choice concept


def bootstrap_ci(correct: Sequence[bool], samples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(accuracy, low, high): percentile interval of the mean over `samples` resamples with a seeded Generator."""
    values = np.asarray(correct, dtype=np.float64)
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one labelled prediction, got 0")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(samples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def grouped_accuracy(keys: Sequence[object], correct: Sequence[bool]) -> dict[object, tuple[int, float]]:
    """key -> (n, accuracy)."""
    groups: dict[object, list[bool]] = defaultdict(list)
    for key, ok in zip(keys, correct):
        groups[key].append(bool(ok))
    return {k: (len(v), sum(v) / len(v)) for k, v in groups.items()}


def by_concept(records: Sequence[dict], top: int = 20) -> list[dict]:
    """Accuracy for the `top` most frequent question concepts (ties by name), most frequent first."""
    labelled = [r for r in records if r["gold"] is not None and r.get("concept")]
    stats = grouped_accuracy([r["concept"] for r in labelled], [r["correct"] for r in labelled])
    ranked = sorted(stats.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    return [{"concept": k, "n": n, "accuracy": acc} for k, (n, acc) in ranked]


def by_linked(records: Sequence[dict], cap: int = 5) -> list[dict]:
    """Accuracy by the number of concepts linked in the question (cap and more pooled as 'cap+')."""
    labelled = [r for r in records if r["gold"] is not None and r.get("linked_concepts") is not None]
    keys = [min(len(r["linked_concepts"]), cap) for r in labelled]
    stats = grouped_accuracy(keys, [r["correct"] for r in labelled])
    return [{"linked": f"{k}+" if k == cap else str(k), "n": n, "accuracy": acc} for k, (n, acc) in sorted(stats.items())]


def position_confusion(records: Sequence[dict]) -> dict:
    """Rows: gold position (0 = first choice); columns: predicted position; plus each position's share of answers."""
    labelled = [r for r in records if r["gold"] is not None]
    width = max((len(r["choices"]) for r in records), default=0)
    matrix = np.zeros((width, width), dtype=np.int64)
    for r in labelled:
        labels = [c["label"] for c in r["choices"]]
        matrix[labels.index(r["gold"]), labels.index(r["predicted"])] += 1
    predicted = Counter([c["label"] for c in r["choices"]].index(r["predicted"]) for r in records)
    return {"positions": list(range(width)), "matrix": matrix.tolist(),
            "predicted_share": [predicted[i] / len(records) if records else 0.0 for i in range(width)],
            "gold_share": [int(matrix[i].sum()) / len(labelled) if labelled else 0.0 for i in range(width)]}


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict:
    """Equal-width confidence bins [k/bins, (k+1)/bins) with count, mean confidence and accuracy, and the ECE:
    sum over bins of |bin| / n * |accuracy - mean confidence|."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    index = np.minimum((conf * bins).astype(np.int64), bins - 1)
    rows, ece = [], 0.0
    for k in range(bins):
        mask = index == k
        n = int(mask.sum())
        row = {"low": k / bins, "high": (k + 1) / bins, "n": n, "confidence": None, "accuracy": None}
        if n:
            row["confidence"], row["accuracy"] = float(conf[mask].mean()), float(ok[mask].mean())
            ece += n / conf.size * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return {"bins": rows, "ece": ece}


def gold_coverage(record: dict) -> bool:
    """Whether the gold choice has at least one fact on a graph path from the question (origin direct or two-hop)."""
    gold = next(c for c in record["choices"] if c["label"] == record["gold"])
    return any(f.get("origin") in GRAPH_ORIGINS for f in gold["evidence"])


def summarize(records: Sequence[dict], *, samples: int = 2000, seed: int = 0, bins: int = 10, top: int = 20) -> dict:
    """Every metric of one run, JSON-ready. Without answer keys: counts and evidence only, `accuracy` None."""
    labelled = [r for r in records if r["gold"] is not None]
    retrieval = any(r.get("linked_concepts") is not None for r in records)
    facts = [len({f["text"] for c in r["choices"] for f in c["evidence"]}) for r in records]
    out: dict = {"n": len(records), "labelled": len(labelled), "accuracy": None, "accuracy_ci95": None,
                 "retrieval": retrieval, "facts_per_question": float(np.mean(facts)) if facts else 0.0,
                 "position": position_confusion(records)}
    if not labelled:
        return out
    correct = [r["correct"] for r in labelled]
    acc, low, high = bootstrap_ci(correct, samples, seed)
    confidence = [max(c["probability"] for c in r["choices"]) for r in labelled]
    out |= {"accuracy": acc, "accuracy_ci95": [low, high], "correct": sum(map(bool, correct)),
            "by_concept": by_concept(labelled, top), "by_linked_concepts": by_linked(labelled),
            "calibration": reliability(confidence, correct, bins),
            "coverage": sum(map(gold_coverage, labelled)) / len(labelled) if retrieval else None}
    return out
