# Two commands do everything on a fresh machine with Python and make:
#   make demo   run the daily export example DAG against the local SurveySphere sandbox
#   make test   run the unit and end-to-end tests (on AIRFLOW=3.3 by default; AIRFLOW=2.11 for the other line)
#
# Each target creates what it needs: a tools virtualenv with a pinned uv, then one virtualenv per
# Airflow line installed from the pinned lock in requirements/.

PYTHON  ?= python3
AIRFLOW ?= 3.3
UV_VERSION := 0.13.8

TOOLS := .venv/tools
UV    := $(TOOLS)/bin/uv
VENV  := .venv/airflow-$(AIRFLOW)
PY    := $(VENV)/bin/python
LOCK  := requirements/airflow-$(AIRFLOW).txt

.PHONY: demo test test-unit test-e2e test-no-openlineage venv bench lock clean

venv: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: $(LOCK) requirements/dev.in pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) -r $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

test: venv
	$(PY) -m pytest tests

test-unit: venv
	$(PY) -m pytest tests/unit

test-e2e: venv
	$(PY) -m pytest tests/e2e

demo: venv
	$(PY) dags_examples/run_demo.py

# The provider without its optional OpenLineage extra: a venv from the same lock minus the OpenLineage
# packages, where the export (Asset event included) must work and log nothing about lineage.
NOOL_VENV := .venv/airflow-$(AIRFLOW)-no-openlineage
NOOL_PY   := $(NOOL_VENV)/bin/python

$(NOOL_VENV)/.installed: $(LOCK) requirements/dev.in pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(NOOL_VENV)
	grep -v -E '^(apache-airflow-providers-openlineage|openlineage-)' $(LOCK) > $(NOOL_VENV)/requirements.txt
	$(UV) pip install --quiet --python $(NOOL_PY) -r $(NOOL_VENV)/requirements.txt
	$(UV) pip install --quiet --python $(NOOL_PY) --no-deps -e .
	touch $@

test-no-openlineage: $(NOOL_VENV)/.installed
	$(NOOL_PY) -m pytest tests/unit/test_without_openlineage.py tests/e2e/test_example_dags.py -k "without_openlineage or daily_export_writes"

# Benchmarks (figures, no assertions): a venv of their own, with the HTTP provider as the peer;
# bytecode is compiled at install so that PYTHONDONTWRITEBYTECODE does not slow every case's start.
# BENCH_ARGS=--quick for a short run; the results land in benchmarks/results/.
BENCH_VENV := .venv/bench
BENCH_PY   := $(BENCH_VENV)/bin/python

$(BENCH_VENV)/.installed: requirements/bench.txt pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(BENCH_PY) -r requirements/bench.txt
	$(UV) pip install --quiet --python $(BENCH_PY) --no-deps -e .
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_PY) benchmarks/run.py $(BENCH_ARGS)

# Re-pin every lock after editing requirements/*.in (needs the package index).
lock: $(UV)
	cd requirements && for lock in airflow-3.3 airflow-2.11 bench; do \
		../$(UV) pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
			$$lock.in -o $$lock.txt; done

clean:
	rm -rf .venv .airflow-demo
