"""benchmarks/knowledge_redundancy.py: what the graph's connections add to a reader, weights cross-fitted."""

import numpy as np
import pytest

from benchmarks import knowledge_redundancy as redundancy


def test_connectivity_helps_a_reader_that_lacks_it_and_not_one_that_has_it():
    rng = np.random.default_rng(0)
    answer = rng.integers(0, 5, size=400)  # (Q,)
    counts = (rng.random((400, 5)) < 0.3).astype(float)
    counts[np.arange(400), answer] = 1.0  # the gold choice always connects: the feature is informative
    blind = rng.normal(size=(400, 5))  # a reader that knows nothing
    correct, weights = redundancy.cross_fitted(blind, counts, answer)
    assert correct.mean() > 0.4 and np.mean(blind.argmax(axis=1) == answer) < 0.3  # ~0.46; chance 0.2
    assert all(w > 0 for w in weights)
    knowing = blind + 10 * counts  # a reader that already scores by the connections: nothing left to add
    correct, weights = redundancy.cross_fitted(knowing, counts, answer)
    assert weights == [0.0, 0.0]  # a tie keeps the smallest weight
    assert np.array_equal(correct, knowing.argmax(axis=1) == answer)


def test_each_half_is_scored_with_the_weight_fitted_on_the_other():
    answer = np.zeros(4, dtype=int)
    z = np.array([[0.0, 1.0]] * 4)  # (Q, C): wrong everywhere unless the feature moves choice 0 up
    counts = np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    order = np.random.default_rng(0).permutation(4)
    halves = (set(order[::2].tolist()), set(order[1::2].tolist()))
    correct, weights = redundancy.cross_fitted(z, counts, answer)
    for half, weight in zip(halves[::-1], weights):  # weights[0] was fitted on halves[0], applied to halves[1]
        for q in half:
            assert correct[q] == (weight * counts[q, 0] >= 1.0)  # a tie goes to the first choice


def test_facts_beside_a_strong_reader_are_paired_against_without_and_control():
    answer = np.array([0, 1, 0, 2])
    strong = {"scores": [[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], "correct": [1, 0, 1, 0]}
    readers = {"without": {"scores": [[0, 0, 0]] * 4},
               "facts": {"scores": [[0, 0, 0], [0, 9, 0], [0, 0, 0], [0, 0, 9]]},  # puts q2, q4 right
               "control": {"scores": [[0, 9, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]}}  # puts q1 wrong
    out = redundancy.beside_strong(strong, readers, answer)
    assert out["accuracy"]["strong alone"] == 0.5
    assert out["accuracy"]["strong + facts"] == 1.0 and out["accuracy"]["strong + control"] == 0.25
    assert out["facts-without"]["difference"] == pytest.approx(0.5)
    assert (out["facts-control"]["a_only"], out["facts-control"]["b_only"]) == (3, 0)
