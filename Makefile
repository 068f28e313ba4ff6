# The two commands: `make test` and `make demo`. Each does its own set-up first.
VENV   := .venv
PY     := $(VENV)/bin/python
JOBS   ?= 2

.PHONY: setup test test-slow demo lint bench clean

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -n $(JOBS)

test-slow: setup
	$(PY) -m pytest -n $(JOBS) -m slow

demo: setup
	$(VENV)/bin/exmy demo --out demo-out

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	@set -e; for f in benchmarks/*.py; do \
		[ -e "$$f" ] || { echo "bench: no benchmarks yet"; break; }; \
		echo "== $$f"; $(PY) "$$f"; \
	done

clean:
	rm -rf build sim_build demo-out out .pytest_cache results.xml
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
