# One verb per job; every target creates the environment it needs first.
UV ?= uv
PY_SRC = libs/common/src services/gateway/src services/router/src services/push-worker/src services/history/src tools/fcm-fake/src tools/devstack/src tools/notifyctl/src bench chaos

.PHONY: install run test test-fast lint format typecheck docs bench chaos chaos-long check clean

install: ## create .venv and install every workspace package (needs uv: pip install uv)
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --all-packages --frozen

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

docs: install ## regenerate docs/configuration.md from the services' Config structs
	$(UV) run --frozen python -m devstack.configref

check: lint typecheck test ## what CI runs

bench: install ## benchmarks (bench/README.md); not part of `make test`
	$(UV) run --frozen python -m bench

chaos: install ## fault-injection tier, CI durations (docs/reliability.md); not part of `make test`
	$(UV) run --frozen pytest -m chaos -p no:randomly

chaos-long: install ## the same tier with full-length outages (30 s Redis/PostgreSQL, 60 s FCM 503)
	CHAOS_PROFILE=long $(UV) run --frozen pytest -m chaos -p no:randomly --timeout 900

clean:
	rm -rf .venv run bench/out
