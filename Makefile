# The two set-up commands of the README. Both create .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint fuzz bench clean mutation

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "nablab needs Python 3.11 or newer; '$(PYTHON)' is not. Try: make PYTHON=python3.11 $(MAKECMDGOALS)" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the package metadata changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[fast]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[fast,test,ray]"
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(BIN)/nablab demo

# The whole suite with the numba kernels, then everything that runs a kernel again with the
# NumPy references (what a machine without numba runs).
test: lint
	$(BIN)/python -m pytest
	NABLAB_KERNELS=numpy $(BIN)/python -m pytest tests/nn tests/optim tests/train

# Mutation testing (not part of `make test`; long): mutants of src/nablab/solve/ and the NumPy
# optimizer rules, each run against tests/solve and tests/optim with the NumPy kernels.
mutation: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e ".[fast,test,mutation]"
	rm -rf mutants
	NABLAB_KERNELS=numpy $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results --all true | tail -n 40

# The long part of the fuzzing suite: many more mutated files, flags and parameters, and twenty
# training runs killed with SIGKILL and resumed.
fuzz: $(VENV)/.installed-test
	NABLAB_FUZZ_EXAMPLES=500 NABLAB_KILL_ROUNDS=20 $(BIN)/python -m pytest tests/fuzz

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .hypothesis mutants
