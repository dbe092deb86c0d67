"""benchmarks/train_seed_spread.py: lift runs of one split and several training seeds, apart and joined."""

import json

import pytest

from benchmarks import train_seed_spread

IDS = ["q1", "q2", "q3", "q4"]
GOLD = {"q1": 0, "q2": 1, "q3": 0, "q4": 2}


def write_run(folder, tag, scores, ids=IDS, data="csqa:validation"):
    """A lift run whose readers have these (Q, 3) test logits; `correct` is derived from GOLD as bench_lift does."""
    readers = [{"name": name, "scores": s, "correct": [int(max(range(3), key=lambda c: row[c]) == GOLD[q])
                                                       for q, row in zip(ids, s)]} for name, s in scores.items()]
    record = {"data": data, "result": {"test_ids": ids, "readers": readers}}
    (folder / f"lift_{tag}.json").write_text(json.dumps(record))


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(train_seed_spread, "RESULTS", tmp_path)
    return tmp_path


def test_each_seed_their_mean_and_the_seeds_joined(results):
    without = [[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0]]  # right on q1 only
    write_run(results, "s0", {"without": without, "facts": [[2, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0]]})  # q1, q2
    # seed 1: q1, q3 right; its q2 is wrong by a hair on a larger scale (z-scores, not raw sums, let seed 0 decide
    # it), its q3 right by far: joined, q2 and q3 go right
    write_run(results, "s1", {"without": without, "facts": [[3, 0, 0], [10, 9, -50], [5, -1, 0], [1, 0, 0]]})
    out = train_seed_spread.spread(["s0", "s1"], gold=GOLD)
    facts = out["readers"]["facts"]
    assert facts["accuracy"] == [0.5, 0.5] and facts["mean"] == 0.5 and facts["range"] == [0.5, 0.5]
    assert facts["seeds_joined"]["accuracy"] == 0.75  # q1, q2, q3
    lift = out["lifts"]["facts-without"]
    assert [s["difference"] for s in lift["each_seed"]] == [0.25, 0.25]
    averaged = lift["seeds_averaged"]  # per question: q2 +0.5, q3 +0.5; four distinct questions
    assert (averaged["n"], averaged["answers"], averaged["gained"]) == (4, 8, 2)
    assert averaged["difference"] == pytest.approx(0.25)
    assert lift["seeds_joined"]["difference"] == pytest.approx(0.5)
    assert "facts-control" not in out["lifts"]  # no control reader in these runs


def test_runs_of_other_splits_or_sets_are_refused(results):
    write_run(results, "a", {"facts": [[1, 0, 0]] * 4})
    write_run(results, "b", {"facts": [[1, 0, 0]] * 4}, ids=["q4", "q3", "q2", "q1"])
    write_run(results, "c", {"facts": [[1, 0, 0]] * 4}, data="other.jsonl")
    with pytest.raises(SystemExit, match="tested other questions"):
        train_seed_spread.spread(["a", "b"], gold=GOLD)
    with pytest.raises(SystemExit, match="read 'other.jsonl'"):
        train_seed_spread.spread(["a", "c"], gold=GOLD)
    with pytest.raises(SystemExit, match="at least two runs"):
        train_seed_spread.spread(["a"], gold=GOLD)
