"""The fuzz benchmark itself, on a small seeded slice: no entry point lets anything escape."""

import pytest

from benchmarks.bench_fuzz import TARGETS, run


@pytest.mark.parametrize("name", list(TARGETS))
def test_a_seeded_slice_of_the_benchmark_lets_nothing_escape(name):
    result = run([name], n=40, seed=20)[name]
    assert result["inputs"] == 40 and result["succeeded"] + result["refused"] == 40, result["escaped_examples"]


def test_unknown_entry_points_are_named():
    with pytest.raises(SystemExit, match=r"unknown entry points \['yaml'\]; known: questions, converters"):
        run(["yaml"], n=1)
