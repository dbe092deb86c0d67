"""The packaged defaults, for real: SmolLM2-135M on 5 CSQA questions through the installed `kqa` command."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_kqa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kqa", *args], capture_output=True, text=True, timeout=600)


def test_eval_packaged_defaults_on_five_questions(tmp_path):
    proc = run_kqa("eval", "csqa:validation", "--limit", "5", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n"] == 5 and report["model"] == "smollm2-135m"
    assert 0.0 <= report["accuracy"] <= 1.0 and report["correct"] == round(report["accuracy"] * 5)
    predictions = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 5
    for p in predictions:
        total = sum(c["probability"] for c in p["choices"])
        assert p["predicted"] in "ABCDE" and total == pytest.approx(1.0, abs=5e-6)  # 5 values rounded to 6 places


def test_ask_prefers_the_sensible_answer():
    proc = run_kqa("ask", "Where would you keep a live fish?", "--choices", "aquarium|oven|desert", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["predicted"] == "A"
