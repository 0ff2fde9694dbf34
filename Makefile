# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test docs bench bench-excite clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0  # the local CPU build, before anything pulls a CUDA one
	$(BIN)/pip install -q -e ".[test,docs,bench,rl,torch,mjx,ray]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sysid demo --out demo_out

test: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)  # the HTML report test
	$(BIN)/python -m pytest

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(BIN)/python benchmarks/arm2_recovery.py

bench-excite: $(STAMP)
	$(BIN)/python benchmarks/excite_arm6.py

clean:
	rm -rf $(VENV) demo_out site
