# Entry points a user runs. Each creates .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: promtool-check help venv test test-fast lint demo bench bench-store bench-reads bench-directory servers-check browser-check bench-api bench-push wrk-check clean bench-digests

help:
	@echo "make demo   - run smsc-sim, sms-gateway and a worker on embedded defaults and show a conversation"
	@echo "make test   - install what is needed into .venv and run the whole test suite"
	@echo "make lint   - ruff, mypy, systemd unit checks, dependency audit"
	@echo "make bench  - end-to-end and store benchmarks (figures printed, JSON in bench/results/)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# setuptools' "Editable installation." note is information, not a problem; hide only it.
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/pip install -q -e '.[test,dev]'
	@touch $(STAMP)

venv: $(STAMP)

servers-check:
	@sh scripts/need-servers.sh

browser-check:
	@sh scripts/need-browser.sh

wrk-check:
	@sh scripts/need-wrk.sh

promtool-check: $(STAMP)
	@sh scripts/need-promtool.sh $(VENV)

# Three test processes on this 2-core machine: much of a test is waiting on the servers
# and processes it started (6 min 37 s against 7 min 55 s with two). A test file stays in
# one process, so its module-scoped stack is built once. TEST_PROCS=0 runs everything here.
TEST_PROCS ?= 3

test: $(STAMP) servers-check browser-check promtool-check
	$(BIN)/pytest -n $(TEST_PROCS) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/pytest -m "not e2e and not faults"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy smpp consent_core config consent_store workers gateway consentctl smsc_sim consent_api consent_queue consent_webhooks
	@sh scripts/lint-systemd.sh
	@echo "== dependency audit (pip-audit) =="
	-$(BIN)/pip-audit --skip-editable --progress-spinner off

demo: $(STAMP) servers-check
	$(BIN)/python -m scripts.demo

bench: $(STAMP) servers-check wrk-check
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.reads
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.push

bench-api: $(STAMP) servers-check
	$(BIN)/python -m bench.api

bench-push: $(STAMP) servers-check wrk-check
	$(BIN)/python -m bench.push

bench-store: $(STAMP) servers-check
	$(BIN)/python -m bench.store

bench-reads: $(STAMP) servers-check
	$(BIN)/python -m bench.reads

bench-directory: $(STAMP) servers-check
	$(BIN)/python -m bench.directory

# Not part of `make bench`: building a ledger of a million rows takes minutes.
bench-digests: $(STAMP) servers-check
	$(BIN)/python -m bench.digests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
