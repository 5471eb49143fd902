# One verb per job; every target creates the environment it needs first.

# uv: the one on PATH if there is one, else uv $(UV_VERSION) in a project-local virtual environment
# (.tools/venv), created with the system python3 and its own pip. Never a pip install into the
# system Python: Debian and Ubuntu refuse it (PEP 668) or ship no pip at all. `make UV=...` wins.
# UV_VERSION is the uv that writes uv.lock; the Dockerfile pins the same one.
UV_VERSION = 0.13.9
TOOLS_VENV = .tools/venv
TOOLS_UV = $(TOOLS_VENV)/bin/uv
ifeq ($(origin UV),undefined)
UV := $(if $(shell command -v uv 2>/dev/null),uv,$(TOOLS_UV))
endif
# The stamp names the version, so a UV_VERSION bump re-creates the tools venv.
UV_STAMP = $(if $(filter $(TOOLS_UV),$(UV)),$(TOOLS_VENV)/.uv-$(UV_VERSION))
PY_SRC = libs/common/src services/gateway/src services/router/src services/push-worker/src services/history/src tools/fcm-fake/src tools/devstack/src tools/notifyctl/src clients/python/src bench chaos

.PHONY: install run test test-fast lint format typecheck docs bench capacity chaos chaos-load chaos-long check clean

install: $(UV_STAMP) ## create .venv and install every workspace package (fetches uv into .tools/ if missing)
	$(UV) sync --all-packages --frozen

$(TOOLS_VENV)/.uv-$(UV_VERSION):
	@command -v python3 >/dev/null || { echo "python3 not found: install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2; exit 1; }
	@echo "uv is not on PATH: installing uv $(UV_VERSION) into $(TOOLS_VENV)"
	@rm -rf $(TOOLS_VENV)
	@python3 -m venv $(TOOLS_VENV) || { rm -rf $(TOOLS_VENV); \
	  echo "python3 cannot create a virtual environment; on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@touch $@

run: install ## run the whole fleet locally until Ctrl-C (ARGS=--free-ports: OS-picked ports)
	$(UV) run --frozen python -m devstack $(ARGS)

test: install ## the whole test suite (unit, integration, e2e, smoke benchmarks)
	$(UV) run --frozen pytest

test-fast: install ## everything but the tests that start the fleet
	$(UV) run --frozen pytest -m "not e2e and not chaos"

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

typecheck: install
	$(UV) run --frozen mypy $(PY_SRC)

docs: install ## regenerate docs/configuration.md and docs/asyncapi.json from the code's Structs
	$(UV) run --frozen python -m devstack.configref
	$(UV) run --frozen python -m gateway.asyncapi docs/asyncapi.json

check: lint typecheck test ## what CI runs

bench: install ## benchmarks (bench/README.md); not part of `make test`
	$(UV) run --frozen python -m bench

capacity: install ## regenerate the tables of docs/scaling.md from bench/results/latest.json
	$(UV) run --frozen python -m bench.capacity --write docs/scaling.md

chaos: install ## fault-injection tier, CI durations (docs/reliability.md); not part of `make test`
	$(UV) run --frozen pytest -m chaos -p no:randomly

chaos-load: install ## the tier at production load: 5,000 clients, 1,000 events/s (docs/reliability.md); ~30 min
	CHAOS_PROFILE=load $(UV) run --frozen pytest -m chaos -p no:randomly --timeout 1200 tests/chaos/test_faults.py

chaos-long: install ## the same tier with full-length outages (30 s Redis/PostgreSQL, 60 s FCM 503)
	CHAOS_PROFILE=long $(UV) run --frozen pytest -m chaos -p no:randomly --timeout 900

clean: ## remove what the Makefile created: .venv, .tools (the bootstrapped uv), run, bench/out
	rm -rf .venv .tools run bench/out
