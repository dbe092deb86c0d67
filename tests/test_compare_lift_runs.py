"""benchmarks/compare_lift_runs.py: two configurations' lift runs compared split by split and over all splits."""

import json

import pytest

from benchmarks import compare_lift_runs


def write_run(folder, tag, ids, correct):
    readers = [{"name": name, "correct": [int(c) for c in values]} for name, values in correct.items()]
    (folder / f"lift_{tag}.json").write_text(json.dumps({"result": {"test_ids": ids, "readers": readers}}))


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(compare_lift_runs, "RESULTS", tmp_path)
    return tmp_path


def test_each_split_is_paired_and_a_question_tested_twice_counts_once(results):
    write_run(results, "a0", ["q1", "q2", "q3", "q4"], {"facts": [1, 1, 1, 0], "without": [1, 0, 0, 0]})
    write_run(results, "b0", ["q1", "q2", "q3", "q4"], {"facts": [1, 0, 0, 0], "without": [1, 0, 0, 0]})
    write_run(results, "a1", ["q2", "q5"], {"facts": [1, 1]})  # q2 again, in another split's test part
    write_run(results, "b1", ["q2", "q5"], {"facts": [1, 0]})
    out = compare_lift_runs.compare(["a0", "a1"], ["b0", "b1"])
    first = out["splits"][0]["readers"]["facts"]
    assert (first["accuracy_a"], first["accuracy_b"], first["a_only"], first["b_only"]) == (0.75, 0.25, 2, 0)
    assert out["splits"][1]["readers"]["facts"]["difference"] == 0.5
    facts = out["distinct"]["facts"]
    # per question the mean over its splits: q2 (+1, 0) +0.5, q3 +1, q5 +1, q1 and q4 0
    assert (facts["n"], facts["answers"], facts["gained"], facts["lost"]) == (5, 6, 3, 0)
    assert facts["difference"] == pytest.approx((0.5 + 1 + 1) / 5)
    assert "without" not in out["distinct"]  # the second split has no reader without facts


def test_runs_of_other_splits_are_refused(results):
    write_run(results, "a", ["q1", "q2"], {"facts": [1, 0]})
    write_run(results, "b", ["q2", "q1"], {"facts": [1, 0]})
    with pytest.raises(SystemExit, match="tested other questions"):
        compare_lift_runs.compare(["a"], ["b"])
    with pytest.raises(SystemExit, match="by position"):
        compare_lift_runs.compare(["a"], ["a", "b"])
