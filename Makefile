# traintriage: the two commands a new user needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: install demo receivers test quick lint docs types unit bench clean system-deps

$(BIN)/traintriage: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[postgres,web,test,bench]'
	touch $(BIN)/traintriage

install: $(BIN)/traintriage  ## create .venv with the package and all extras

system-deps:  ## Debian packages the tests need (PostgreSQL server, Chromium); needs root
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium >/dev/null

demo: install  ## simulate a 4-week train, load it into ./demo/traintriage.db, show signatures and a train decision
	rm -rf $(DEMO) && $(BIN)/traintriage simulate --out $(DEMO) --events 200000 --weeks 4
	$(BIN)/traintriage ingest --db $(DEMO)/traintriage.db --rejects $(DEMO)/rejects.log $(DEMO)/logs/*
	$(BIN)/traintriage deploys import --db $(DEMO)/traintriage.db $(DEMO)/deploys/wikiversions.log
	$(BIN)/traintriage groups import --db $(DEMO)/traintriage.db $(DEMO)/dblists
	$(BIN)/traintriage exposure import --db $(DEMO)/traintriage.db $(DEMO)/exposure.csv
	$(BIN)/traintriage signatures --db $(DEMO)/traintriage.db --limit 8
	$(BIN)/traintriage deploys list --db $(DEMO)/traintriage.db
	$(BIN)/traintriage owners check examples/OWNERS --db $(DEMO)/traintriage.db --top 2
	$(BIN)/traintriage train status 1.36.0-wmf.28 --db $(DEMO)/traintriage.db --at 2021-01-27T20:10:00Z --owners examples/OWNERS
	-$(BIN)/traintriage gate --version 1.36.0-wmf.28 --stage group1 --db $(DEMO)/traintriage.db --at 2021-01-27T20:10:00Z

lint: install  ## ruff, formatting, the import-layer contracts and the generated README sections
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/cog --check README.md

docs: install  ## regenerate the README's generated sections (command list, exit codes)
	$(BIN)/cog -r README.md

types: install
	$(BIN)/mypy

# Coverage of the whole suite (in-process code only: CLI subprocesses are not counted), gated
# at the total measured when the gate was set (93.83%, 981 tests, after the CliRunner tests of every
# command; 89.49% before them); raise it when coverage grows, never lower it.
COV_FAIL_UNDER := 93

unit: install
	$(BIN)/python -m pytest -q --cov=traintriage --cov=traintriage_sim --cov-report=term:skip-covered \
		--cov-fail-under=$(COV_FAIL_UNDER)

test: install lint types unit  ## lint, type-check and run the whole test suite

# The edit-test loop: everything but PostgreSQL, Chromium and @slow tests. Bytecode caching is
# switched back on (the assertion rewriting of the test files is then cached) and the unused
# Hypothesis plugin is not loaded: both are most of the start-up time.
quick: install  ## the fast tests only (no PostgreSQL, no Chromium, nothing marked slow)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -p no:hypothesispytest \
		-m "not postgres and not browser and not slow"

receivers: install  ## local Phabricator (Conduit :8091), webhook (:8092) and SMTP (:8025) receivers for the demo
	$(BIN)/python -m traintriage_sim.receivers --phabricator 8091 --webhook 8092 --smtp 8025 --blocker 1.36.0-wmf.28

bench: install  ## benchmarks (not tests): ingest throughput, grouping quality, train status latency
	$(BIN)/python bench/bench_ingest.py --rss-events 10000000
	$(BIN)/python bench/bench_loghub.py
	$(BIN)/python bench/bench_train_status.py

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
