# One entry point for people and CI.  `make demo`, `make test` and `make docs`
# work on a fresh machine: they create .venv and install everything on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

# Where PyTorch comes from.  PyPI's Linux wheels of torch are CUDA builds of
# several GB, so on a machine without an NVIDIA GPU (no `nvidia-smi`) torch is
# installed first from PyTorch's CPU wheel index, TORCH_INDEX.  Where that
# index cannot be reached (a machine that only reaches PyPI or a mirror), torch
# comes from pip's configured sources, pinned to TORCH_FALLBACK, the CPU wheel
# such a machine's pip configuration provides.  With a GPU, torch comes with
# sk_spotting from PyPI; `make demo TORCH_INDEX=https://download.pytorch.org/whl/cu126`
# chooses a CUDA build, and TORCH_INDEX= (empty) leaves torch to pip.
TORCH_INDEX    ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
TORCH_FALLBACK ?= torch==2.13.0

.PHONY: demo test docs lint install lowest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if [ -z "$(TORCH_INDEX)" ]; then :; \
	elif $(BIN)/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" \
	        "$(TORCH_INDEX)/torch/" 2>/dev/null; then \
	    echo "installing torch from $(TORCH_INDEX)"; \
	    $(BIN)/python -m pip install --quiet torch --index-url "$(TORCH_INDEX)"; \
	else \
	    echo "$(TORCH_INDEX) cannot be reached: installing $(TORCH_FALLBACK) from pip's configured sources"; \
	    $(BIN)/python -m pip install --quiet "$(TORCH_FALLBACK)"; \
	fi
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $(DOCS_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sk-spotting demo --out demo_output

test: $(STAMP)
	$(BIN)/ruff check sk_spotting tests benchmarks docs
	$(BIN)/python -m pytest -n 2 -q

# The HTML site in docs/_build/html; warnings (broken references included) fail.
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -n -q -b html docs docs/_build/html

lint: $(STAMP)
	$(BIN)/ruff check sk_spotting tests benchmarks docs

# The test suite against the lowest supported releases, in .venv-lowest.
lowest:
	bash .ci/lowest.sh

clean:
	rm -rf $(VENV) .venv-lowest demo_output docs/_build docs/generated docs/auto_examples
