# One entry point for people and CI.  `make demo` and `make test` work on a
# fresh machine: they create .venv and install everything on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# Without an NVIDIA GPU, take the CPU build of torch (a local wheel here);
	# an unpinned torch would pull a multi-GB CUDA build.
	if ! command -v nvidia-smi >/dev/null 2>&1; then \
	    $(BIN)/python -m pip install --quiet "torch==2.13.0"; fi
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sk-spotting demo --out demo_output

test: $(STAMP)
	$(BIN)/ruff check sk_spotting tests benchmarks
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check sk_spotting tests benchmarks

clean:
	rm -rf $(VENV) demo_output
