"""benchmarks.plot_lift: every lift JSON becomes one group of three bars; reruns of a shown row are left out."""

import json

import pytest

from benchmarks import plot_lift


def write(folder, tag, accuracies):
    readers = [{"name": name, "accuracy": a, "ci95": [a - 0.05, a + 0.05]} for name, a in accuracies.items()]
    (folder / f"lift_{tag}.json").write_text(json.dumps({"result": {"readers": readers}}))


def test_every_configuration_is_drawn_and_reruns_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(plot_lift, "RESULTS", tmp_path)
    write(tmp_path, "a", {"without": 0.36, "facts": 0.40, "control": 0.27})
    write(tmp_path, "a-recheck", {"without": 0.36, "facts": 0.40, "control": 0.27})
    write(tmp_path, "b", {"without": 0.34, "facts": 0.37})  # a run of only two readers
    rows = plot_lift.load([])
    assert [tag for tag, _ in rows] == ["a", "b"]
    assert rows[0][1]["facts"] == pytest.approx((0.40, 0.35, 0.45))
    assert [tag for tag, _ in plot_lift.load(["a-recheck"])] == ["a-recheck"]  # named: shown even if a rerun
    out = tmp_path / "out" / "lift.png"
    plot_lift.plot(rows, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
