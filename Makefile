# Two commands a fresh machine needs (Python 3.11 and make): `make demo` and `make test` (lint first).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out/demo

.PHONY: demo test lint venv clean benchmark cluster-demo browser

# The environment is (re)built from nothing when pyproject.toml changes. torch==2.13.0 (train extra) is the
# CPU wheel on this project's machines; see pyproject.toml.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,s3,dev]'
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/lusomix run data_samples/demo.yaml --output $(OUT)

# the demo config on a 3-node local Ray cluster (head with 0 CPUs) writing to a local S3 server; stops both
cluster-demo: venv
	$(BIN)/python data_samples/cluster_demo.py --out $(OUT)-cluster

# ruff (lint + format) and mypy, configured in pyproject.toml; `make test` runs it first
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

# The report's browser tests (tests/test_report.py) open it in headless chromium, Debian's package: installed
# here when missing (apt-get, through sudo unless root), as .ci/run does before `make test`.
browser: venv
	@command -v chromium >/dev/null || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing Debian's chromium (apt-get)"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(BIN)/python -m pytest -q tests/test_report.py -k "browser or funnel"

benchmark: venv
	$(BIN)/python benchmarks/extract_throughput.py

clean:
	rm -rf $(VENV) out .pytest_cache
