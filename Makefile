# traintriage: the two commands a new user needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: install demo test lint types unit bench clean system-deps

$(BIN)/traintriage: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[postgres,web,test,bench]'
	touch $(BIN)/traintriage

install: $(BIN)/traintriage  ## create .venv with the package and all extras

system-deps:  ## Debian packages the tests need (PostgreSQL server, Chromium); needs root
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium >/dev/null

demo: install  ## simulate a 4-week train, ingest it into ./demo/traintriage.db, list signatures
	rm -rf $(DEMO) && $(BIN)/traintriage simulate --out $(DEMO) --events 200000 --weeks 4
	$(BIN)/traintriage ingest --db $(DEMO)/traintriage.db --rejects $(DEMO)/rejects.log $(DEMO)/logs/*
	$(BIN)/traintriage signatures --db $(DEMO)/traintriage.db --limit 10

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q

test: install lint types unit  ## lint, type-check and run the whole test suite

bench: install  ## benchmarks (not tests): ingest throughput and grouping quality
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_loghub.py

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
