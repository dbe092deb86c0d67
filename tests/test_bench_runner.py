"""`make bench` (benchmarks/run.py) runs every benchmark that needs no argument and names the rest."""

import re
from pathlib import Path

import pytest
import torch

from benchmarks.run import HERE, NEEDS_ARGUMENTS, NEEDS_CUDA
from kqa.errors import DeviceError

ARGUMENT = re.compile(r"add_argument\((.*)\)")


def needs_arguments(script: Path) -> bool:
    """A positional argument without a default (nargs other than "?" / "*") or a required option."""
    for call in ARGUMENT.findall(script.read_text(encoding="utf-8")):
        positional = re.match(r'"[a-z]', call) and not re.search(r'nargs="[?*]"', call)
        if positional or "required=True" in call:
            return True
    return False


def test_make_bench_skips_exactly_the_scripts_that_need_arguments():
    scripts = sorted(HERE.glob("bench_*.py"))
    assert {s.stem for s in scripts if needs_arguments(s)} == set(NEEDS_ARGUMENTS)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_only_benchmarks_stop_with_a_device_error_on_cpu():
    from benchmarks.bench_qlora import main

    assert NEEDS_CUDA == ("bench_qlora",) and (HERE / "bench_qlora.py").is_file()
    with pytest.raises(DeviceError, match=r"needs a CUDA GPU .* --device cpu --modes lora-bf16"):
        main([])
