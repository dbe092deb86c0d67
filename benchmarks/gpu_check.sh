#!/usr/bin/env bash
# The CUDA checks in one run, on a machine with a GPU and torch built for CUDA (QLoRA also needs bitsandbytes):
#   tests/test_gpu.py                      QLoRA (NF4 + LoRA) trains, saves and reloads; S2-Attn on CUDA
#   benchmarks.bench_longlora --device cuda   S2-Attn against sdpa attention at 8k, 16k and 32k tokens
#   benchmarks.bench_qlora                 NF4 against bf16 backbones: model memory, peak memory, step time
# Each step has its own time limit and a failure does not stop the next. Logs and result JSONs are copied to $OUT
# (default /tmp/kqa-gpu); the JSONs are also written to benchmarks/results/.
#     bash benchmarks/gpu_check.sh
set -u
OUT=${OUT:-/tmp/kqa-gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

$PY -c "import sys, torch, transformers, peft, bitsandbytes
print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0),
      'transformers', transformers.__version__, 'peft', peft.__version__, 'bitsandbytes', bitsandbytes.__version__)" \
    2>&1 | tee "$OUT/env.txt"
timeout 300 $PY -m pytest -v -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tail -80 | tee "$OUT/gpu_tests.log"
timeout 240 $PY -m benchmarks.bench_longlora --device cuda --tokens 8192 16384 32768 2>&1 | tail -30 | tee "$OUT/longlora.log"
cp benchmarks/results/longlora-cuda.json "$OUT/" 2>/dev/null
timeout 300 $PY -m benchmarks.bench_qlora 2>&1 | tail -30 | tee "$OUT/qlora.log"
cp benchmarks/results/qlora.json "$OUT/" 2>/dev/null
exit 0
