# Two commands do everything on a fresh machine with Python and make:
#   make demo   run the daily export example DAG against the local SurveySphere sandbox
#   make test   run the unit and end-to-end tests (on AIRFLOW=3.3 by default; AIRFLOW=2.11 for the other line)
#
# Other lines: AIRFLOW=3.0|3.1|3.2|3.3|2.11 picks the Airflow lock; PYTHON=/path/to/python3.X another
# interpreter (its venv and lock carry a -py3.X suffix; Python 3.11 is the default the plain locks pin).
#   make test-deploy    the example DAGs in a real deployment (scheduler, API server, ...), via the REST API
#   make test-browser   the connection form in headless Chromium (Debian's chromium; installed when root)
#   make test-distributed  the provider on a distributed Airflow 3.3 (CeleryExecutor, PostgreSQL, Redis, two
#                       workers, two triggerers, moto S3), processes killed with SIGKILL (tests/distributed)
#
# Each target creates what it needs: a tools virtualenv with a pinned uv, then one virtualenv per
# Airflow line installed from the pinned lock in requirements/.

PYTHON  ?= python3
AIRFLOW ?= 3.3
UV_VERSION := 0.13.8

PYVER   := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYSUFFIX := $(if $(filter 3.11,$(PYVER)),,-py$(PYVER))

TOOLS := .venv/tools
UV    := $(TOOLS)/bin/uv
VENV  := .venv/airflow-$(AIRFLOW)$(PYSUFFIX)
PY    := $(VENV)/bin/python
LOCK  := requirements/airflow-$(AIRFLOW)$(PYSUFFIX).txt
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test test-unit test-e2e test-model test-s3 bench-s3 test-no-openlineage test-warehouse bench-formats bench-dlt test-lines test-deploy test-browser test-deploy-browser test-distributed browser-deps venv bench lock clean dist smoke-wheel lint

venv: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(LOCK):
	@echo "No lock for Airflow $(AIRFLOW) on Python $(PYVER): $(LOCK) is missing (see requirements/)"; exit 1

$(VENV)/.installed: $(LOCK) requirements/dev.in pyproject.toml airflow_provider_surveysphere/__init__.py | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) -r $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

# The deployment, browser, warehouse and distributed suites have targets of their own (a whole Airflow, a PostgreSQL).
test: venv
	$(PY) -m pytest tests --ignore=tests/deploy --ignore=tests/browser --ignore=tests/warehouse --ignore=tests/distributed

test-unit: venv
	$(PY) -m pytest tests/unit

test-e2e: venv
	$(PY) -m pytest tests/e2e

# The model-based tests (Hypothesis) with a wider, randomized search than CI's derandomized profile;
# a failure prints the blob that reproduces it (@reproduce_failure).
test-model: venv
	SURVEYSPHERE_HYPOTHESIS_PROFILE=model $(PY) -m pytest tests/unit -m model

# Lint and types, with the tools pinned in requirements/dev.in: ruff on everything (the package without
# exceptions, see pyproject.toml), mypy --strict on the package against this Airflow line's venv.
# On Airflow 2.11, common.compat's lazy exports are typed Any, so subclassing them is allowed there.
MYPY_FLAGS_2.11 := --allow-subclassing-any

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(MYPY_FLAGS_$(AIRFLOW))

# Object-storage tests against moto's S3 server: a venv of their own (the Amazon provider, s3fs, moto).
S3_VENV := .venv/airflow-$(AIRFLOW)-s3
S3_PY   := $(S3_VENV)/bin/python

$(S3_VENV)/.installed: requirements/airflow-$(AIRFLOW)-s3.txt pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(S3_VENV)
	$(UV) pip install --quiet --python $(S3_PY) -r requirements/airflow-$(AIRFLOW)-s3.txt
	$(UV) pip install --quiet --python $(S3_PY) --no-deps -e .
	touch $@

test-s3: $(S3_VENV)/.installed
	$(S3_PY) -m pytest tests/s3

# Export throughput and peak memory to S3 (moto) next to a local file (figures in BENCHMARKS.md).
bench-s3: $(S3_VENV)/.installed
	PYTHONPATH=. $(S3_PY) benchmarks/s3_export.py $(BENCH_ARGS)

# The extra Airflow and Python lines: the unit tests and the example DAGs run by `airflow dags test`.
# Two example DAG runs per line (one plain export, one dynamically mapped) keep CI within its time budget.
test-lines: venv
	$(PY) -m pytest tests/unit \
		tests/e2e/test_example_dags.py::test_daily_export_writes_every_record_of_the_interval_exactly_once \
		tests/e2e/test_example_dags.py::test_fan_out_maps_one_task_and_one_token_per_survey

test-deploy: venv
	$(PY) -m pytest tests/deploy

# Playwright drives Debian's chromium (no browser download): installed here when running as root,
# otherwise one line says what is missing and the target fails.
browser-deps: venv
	$(UV) pip install --quiet --python $(PY) -r requirements/browser.txt
	@test -x $(CHROMIUM) || if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "test-browser needs Chromium at $(CHROMIUM): run 'sudo apt-get install chromium' (or set CHROMIUM=...)"; exit 1; fi
	@test -x $(CHROMIUM) || { echo "test-browser: apt-get did not install $(CHROMIUM)"; exit 1; }

test-browser: browser-deps
	SURVEYSPHERE_CHROMIUM=$(CHROMIUM) $(PY) -m pytest tests/browser

# Both, sharing one deployment (what CI runs).
test-deploy-browser: browser-deps
	SURVEYSPHERE_CHROMIUM=$(CHROMIUM) $(PY) -m pytest tests/deploy tests/browser

demo: venv
	$(PY) dags_examples/run_demo.py

# The provider without its optional extras: a venv from the same lock minus the OpenLineage packages and
# pyarrow ([parquet]), where the export (Asset event included) must work and log nothing about lineage, and
# asking for Parquet must fail naming the extra while CSV and JSON Lines work.
NOOL_VENV := .venv/airflow-$(AIRFLOW)-no-openlineage
NOOL_PY   := $(NOOL_VENV)/bin/python

$(NOOL_VENV)/.installed: $(LOCK) requirements/dev.in pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(NOOL_VENV)
	grep -v -E '^(apache-airflow-providers-openlineage|openlineage-|pyarrow)' $(LOCK) > $(NOOL_VENV)/requirements.txt
	$(UV) pip install --quiet --python $(NOOL_PY) -r $(NOOL_VENV)/requirements.txt
	$(UV) pip install --quiet --python $(NOOL_PY) --no-deps -e .
	touch $@

test-no-openlineage: $(NOOL_VENV)/.installed
	$(NOOL_PY) -m pytest tests/unit/test_without_openlineage.py tests/unit/test_without_parquet.py \
		tests/e2e/test_example_dags.py -k "without_openlineage or without_parquet or daily_export_writes"

# The warehouse-load example against a real PostgreSQL (Debian's postgresql; installed when root), on Airflow
# 3.3: a venv of its own with the Postgres provider (requirements/airflow-3.3-warehouse.txt).
WH_VENV := .venv/airflow-3.3-warehouse$(PYSUFFIX)
WH_PY   := $(WH_VENV)/bin/python

$(WH_VENV)/.installed: requirements/airflow-3.3-warehouse.txt pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(WH_VENV)
	$(UV) pip install --quiet --python $(WH_PY) -r requirements/airflow-3.3-warehouse.txt
	$(UV) pip install --quiet --python $(WH_PY) --no-deps -e .
	touch $@

test-warehouse: $(WH_VENV)/.installed
	$(WH_PY) -m pytest tests/warehouse

# The provider on a distributed Airflow 3.3 (tests/distributed): CeleryExecutor with two workers, two triggerers,
# the metadata database on a throwaway PostgreSQL, the broker on a throwaway Redis (Debian's postgresql and
# redis-server; installed when root), outputs on moto's S3. A venv of its own (requirements/airflow-3.3-distributed.txt).
DIST_TEST_VENV := .venv/airflow-3.3-distributed$(PYSUFFIX)
DIST_TEST_PY   := $(DIST_TEST_VENV)/bin/python

$(DIST_TEST_VENV)/.installed: requirements/airflow-3.3-distributed.txt pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(DIST_TEST_VENV)
	$(UV) pip install --quiet --python $(DIST_TEST_PY) -r requirements/airflow-3.3-distributed.txt
	$(UV) pip install --quiet --python $(DIST_TEST_PY) --no-deps -e .
	touch $@

test-distributed: $(DIST_TEST_VENV)/.installed
	$(DIST_TEST_PY) -m pytest tests/distributed $(PYTEST_ARGS)

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

# CSV and Parquet next to JSON Lines and to a pandas DataFrame of everything (SqlToS3Operator's way): local file
# in the bench venv (pandas), S3 (moto) in the S3 test venv. BENCH_ARGS=--quick for a short run.
bench-formats: $(BENCH_VENV)/.installed $(S3_VENV)/.installed
	$(BENCH_PY) benchmarks/formats_export.py --targets local $(BENCH_ARGS)
	PYTHONPATH=. $(S3_PY) benchmarks/formats_export.py --targets s3 $(BENCH_ARGS)

# Side by side with dlt (its rest_api source to its filesystem destination, in JSON Lines, CSV and Parquet) on the
# same sandbox: dlt lives in a venv of its own (requirements/bench-dlt.txt), never in the provider's locks; our
# export runs in the bench venv. BENCH_ARGS=--quick for 10k records; the default sizes are 100k and 1M.
DLT_VENV := .venv/bench-dlt
DLT_PY   := $(DLT_VENV)/bin/python

$(DLT_VENV)/.installed: requirements/bench-dlt.txt | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(DLT_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(DLT_PY) -r requirements/bench-dlt.txt
	touch $@

bench-dlt: $(BENCH_VENV)/.installed $(DLT_VENV)/.installed
	$(BENCH_PY) benchmarks/dlt_side_by_side.py --dlt-python $(DLT_PY) $(BENCH_ARGS)

# Re-pin every lock after editing requirements/*.in (needs the package index).
lock: $(UV)
	cd requirements && for lock in airflow-3.3 airflow-2.11 airflow-3.0 airflow-3.1 airflow-3.2 airflow-3.3-s3 airflow-2.11-s3 airflow-3.3-warehouse airflow-3.3-distributed bench bench-dlt dist browser; do \
		../$(UV) pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
			$$lock.in -o $$lock.txt; done
	cd requirements && for py in 3.10 3.12 3.13; do \
		../$(UV) pip compile --quiet --python-version $$py --python-platform x86_64-manylinux_2_28 \
			airflow-3.3-py$$py.in -o airflow-3.3-py$$py.txt; done

# Release: the sdist and the wheel, built with the pinned tools of requirements/dist.txt and checked (twine,
# their contents, the metadata a registry shows). smoke-wheel installs the wheel, not the checkout, into a
# clean virtualenv of the AIRFLOW line (its lock without the editable project) and smoke-tests it there.
DIST_VENV  := .venv/dist
DIST_PY    := $(DIST_VENV)/bin/python
VERSION    := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' airflow_provider_surveysphere/__init__.py)
WHEEL      := dist/airflow_provider_surveysphere-$(VERSION)-py3-none-any.whl
SMOKE_VENV := .venv/wheel-$(AIRFLOW)

$(DIST_VENV)/.installed: requirements/dist.txt | $(UV)
	$(UV) venv --quiet --allow-existing --no-python-downloads --python $(PYTHON) $(DIST_VENV)
	$(UV) pip install --quiet --python $(DIST_PY) -r requirements/dist.txt
	touch $@

dist: $(DIST_VENV)/.installed
	rm -rf dist build airflow_provider_surveysphere.egg-info
	$(DIST_PY) -m build --quiet --no-isolation --outdir dist .
	$(DIST_VENV)/bin/twine check --strict dist/*
	$(DIST_PY) .ci/check_dist.py dist

smoke-wheel: dist
	rm -rf $(SMOKE_VENV)
	$(UV) venv --quiet --no-python-downloads --python $(PYTHON) $(SMOKE_VENV)
	$(UV) pip install --quiet --python $(SMOKE_VENV)/bin/python -r $(LOCK) $(WHEEL)
	env -u PYTHONPATH $(SMOKE_VENV)/bin/python .ci/smoke_wheel.py --dag-file dags_examples/surveysphere_daily_export.py

clean:
	rm -rf .venv .airflow-demo dist build
