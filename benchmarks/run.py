"""`make bench`: run every benchmark with its default size; each writes benchmarks/results/<name>.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# Analyses of earlier runs or of a downloaded corpus: they need arguments (their docstrings say which), so `make
# bench` names them instead of failing on them.
NEEDS_ARGUMENTS = ("bench_corpus_cooccurrence", "bench_evidence", "bench_lift_strata", "bench_query_form")
NEEDS_CUDA = ("bench_qlora",)  # QLoRA's NF4 kernels exist for CUDA only: skipped on a machine without a GPU


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        if script.stem in NEEDS_ARGUMENTS:
            print(f"== {script.stem}: skipped, it needs arguments (python -m benchmarks.{script.stem} --help)", flush=True)
            continue
        if script.stem in NEEDS_CUDA and not torch.cuda.is_available():
            print(f"== {script.stem}: skipped, it needs a CUDA GPU", flush=True)
            continue
        print(f"== {script.stem}", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{script.stem}"], check=False, cwd=HERE.parent).returncode:
            failed.append(script.stem)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
