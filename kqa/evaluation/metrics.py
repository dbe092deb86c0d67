"""Metrics over prediction records (kqa.evaluation.records.EvalRecord) and paired statistics of two runs: pure
functions, seeded where random. Accuracy-type metrics use the labelled records (those with an answer key) only.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from kqa.evaluation.records import EvalRecord
from kqa.evaluation.results import (
    Calibration,
    CalibrationBin,
    ConceptAccuracy,
    LinkedAccuracy,
    PairedStats,
    PositionConfusion,
    Summary,
)

GRAPH_ORIGINS = ("direct", "two-hop")  # facts on a graph path from a question concept to a choice concept


def bootstrap_ci(correct: Sequence[bool], samples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(accuracy, low, high): percentile interval of the mean over `samples` resamples with a seeded Generator."""
    values = np.asarray(correct, dtype=np.float64)
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one labelled prediction, got 0")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(samples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p: a binomial(n = discordant pairs, 1/2) test of the smaller count."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    try:
        from scipy.stats import binom

        tail = float(binom.cdf(k, n, 0.5))
    except ImportError:
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(a: Sequence[bool], b: Sequence[bool], samples: int = 2000,
                     seed: int = 0) -> tuple[float, float, float]:
    """(mean(a) - mean(b), low, high): 95% percentile interval, resampling questions (pairs stay together)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size != y.size or x.size == 0:
        raise ValueError(f"paired_bootstrap needs two equally long non-empty vectors, got {x.size} and {y.size}")
    rng = np.random.default_rng(seed)
    diffs = (x - y)[rng.integers(0, x.size, size=(samples, x.size))].mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(x.mean() - y.mean()), float(low), float(high)


def paired_stats(a: str, a_correct: Sequence[bool], b: str, b_correct: Sequence[bool], samples: int = 2000,
                 seed: int = 0) -> PairedStats:
    """Run a against run b on the same questions: `*_correct` are aligned question by question."""
    a_only = sum(bool(x) and not y for x, y in zip(a_correct, b_correct))
    b_only = sum(bool(y) and not x for x, y in zip(a_correct, b_correct))
    diff, low, high = paired_bootstrap(a_correct, b_correct, samples, seed)
    return PairedStats(a, b, len(a_correct), diff, (low, high), a_only, b_only, mcnemar_exact(a_only, b_only))


def paired_by_question(questions: Sequence[str], a: Sequence[bool], b: Sequence[bool], samples: int = 2000,
                       flips: int = 100_000, seed: int = 0) -> dict:
    """Runs a and b answered the same questions, some more than once (the test parts of several seeded splits
    overlap): per distinct question the mean of (a - b) over its answers, so that a question counts once.

    Returns n (distinct questions), answers, difference (mean over questions), ci95 (bootstrap over questions),
    gained / lost (questions where a / b is right more often) and p: a two-sided sign-flip test of the per-question
    differences (exact when at most 16 differ from 0, else `flips` seeded random sign patterns). Pooling the answers
    into one McNemar test would count a question once per split it was tested in, and claim too small a p."""
    if not (len(questions) == len(a) == len(b)) or not questions:
        raise ValueError(f"paired_by_question needs three equally long non-empty sequences, got {len(questions)}, "
                         f"{len(a)} and {len(b)}")
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for key, x, y in zip(questions, a, b):
        sums[key][0] += float(x) - float(y)
        sums[key][1] += 1
    d = np.array([total / count for total, count in sums.values()])  # (Q,) per-question mean difference
    resample, flip = (np.random.default_rng([seed, stream]) for stream in (0, 1))  # p does not move with `samples`
    means = d[resample.integers(0, d.size, size=(samples, d.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"n": int(d.size), "answers": len(a), "difference": float(d.mean()), "ci95": (float(low), float(high)),
            "gained": int((d > 0).sum()), "lost": int((d < 0).sum()), "p": _sign_flip_p(d[d != 0], flips, flip)}


def _sign_flip_p(d: np.ndarray, flips: int, rng: np.random.Generator) -> float:
    """Two-sided p of |sum(d)| under random signs: every pattern for up to 16 values (8 MB), else `flips` random
    ones (the observed pattern counted in, so p is never 0). Sums equal to the observed one up to float error count
    as reaching it."""
    if d.size == 0:
        return 1.0
    observed = abs(d.sum()) * (1 - 1e-9) - 1e-12
    if d.size <= 16:
        signs = 1.0 - 2 * ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1)  # (2^k, k) of +-1
        return float((np.abs(signs @ d) >= observed).mean())
    hits = 0
    for start in range(0, flips, 10_000):  # (chunk, k) sign matrices, a few MB at a time
        signs = rng.choice((-1.0, 1.0), size=(min(10_000, flips - start), d.size))
        hits += int((np.abs(signs @ d) >= observed).sum())
    return (hits + 1) / (flips + 1)


def grouped_accuracy(keys: Sequence[object], correct: Sequence[bool]) -> dict[object, tuple[int, float]]:
    """key -> (n, accuracy)."""
    groups: dict[object, list[bool]] = defaultdict(list)
    for key, ok in zip(keys, correct):
        groups[key].append(bool(ok))
    return {k: (len(v), sum(v) / len(v)) for k, v in groups.items()}


def by_concept(records: Sequence[EvalRecord], top: int = 20) -> tuple[ConceptAccuracy, ...]:
    """Accuracy for the `top` most frequent question concepts (ties by name), most frequent first."""
    labelled = [r for r in records if r.gold is not None and r.concept]
    stats = grouped_accuracy([r.concept for r in labelled], [r.correct for r in labelled])
    ranked = sorted(stats.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    return tuple(ConceptAccuracy(k, n, acc) for k, (n, acc) in ranked)


def by_linked(records: Sequence[EvalRecord], cap: int = 5) -> tuple[LinkedAccuracy, ...]:
    """Accuracy by the number of concepts linked in the question (cap and more pooled as 'cap+')."""
    labelled = [r for r in records if r.gold is not None and r.linked_concepts is not None]
    keys = [min(len(r.linked_concepts), cap) for r in labelled]
    stats = grouped_accuracy(keys, [r.correct for r in labelled])
    return tuple(LinkedAccuracy(f"{k}+" if k == cap else str(k), n, acc) for k, (n, acc) in sorted(stats.items()))


def position_confusion(records: Sequence[EvalRecord]) -> PositionConfusion:
    """Rows: gold position (0 = first choice); columns: predicted position; plus each position's share of answers."""
    labelled = [r for r in records if r.gold is not None]
    width = max((len(r.choices) for r in records), default=0)
    matrix = np.zeros((width, width), dtype=np.int64)
    for r in labelled:
        labels = [c.label for c in r.choices]
        matrix[labels.index(r.gold), labels.index(r.predicted)] += 1
    predicted = Counter([c.label for c in r.choices].index(r.predicted) for r in records)
    return PositionConfusion(
        tuple(range(width)), tuple(tuple(row) for row in matrix.tolist()),
        tuple(predicted[i] / len(records) if records else 0.0 for i in range(width)),
        tuple(int(matrix[i].sum()) / len(labelled) if labelled else 0.0 for i in range(width)))


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> Calibration:
    """Equal-width confidence bins [k/bins, (k+1)/bins) with count, mean confidence and accuracy, and the ECE:
    sum over bins of |bin| / n * |accuracy - mean confidence|."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    index = np.minimum((conf * bins).astype(np.int64), bins - 1)
    rows, ece = [], 0.0
    for k in range(bins):
        mask = index == k
        n = int(mask.sum())
        mean_conf = mean_ok = None
        if n:
            mean_conf, mean_ok = float(conf[mask].mean()), float(ok[mask].mean())
            ece += n / conf.size * abs(mean_ok - mean_conf)
        rows.append(CalibrationBin(k / bins, (k + 1) / bins, n, mean_conf, mean_ok))
    return Calibration(tuple(rows), ece)


def gold_coverage(record: EvalRecord) -> bool:
    """Whether the gold choice has at least one fact on a graph path from the question (origin direct or two-hop)."""
    gold = next(c for c in record.choices if c.label == record.gold)
    return any(f.origin in GRAPH_ORIGINS for f in gold.evidence)


def summarize(records: Sequence[EvalRecord], *, samples: int = 2000, seed: int = 0, bins: int = 10,
              top: int = 20) -> Summary:
    """Every metric of a collection of records. Without answer keys: counts and evidence only, `accuracy` None."""
    labelled = [r for r in records if r.gold is not None]
    retrieval = any(r.linked_concepts is not None for r in records)
    facts = [len({f.text for f in r.prediction.evidence}) for r in records]
    base = Summary(len(records), len(labelled), retrieval, float(np.mean(facts)) if facts else 0.0,
                   position_confusion(records))
    if not labelled:
        return base
    correct = [r.correct for r in labelled]
    acc, low, high = bootstrap_ci(correct, samples, seed)
    confidence = [max(c.probability for c in r.choices) for r in labelled]
    return dataclasses.replace(
        base, accuracy=acc, accuracy_ci95=(low, high), correct=sum(map(bool, correct)),
        by_concept=by_concept(labelled, top), by_linked_concepts=by_linked(labelled),
        calibration=reliability(confidence, correct, bins),
        coverage=sum(map(gold_coverage, labelled)) / len(labelled) if retrieval else None)
