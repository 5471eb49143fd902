"""Fault scenarios over the whole fleet: each runs once (cached per session), then several checks.

`make chaos` (CI durations) or `make chaos-long` (full-length outages); see docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.report import TABLE_HEADER, table_row
from chaos.run import Outcome, run_scenario
from chaos.timing import from_env

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

SHUTDOWN_GRACE_S = 10.0
_outcomes: dict[str, Outcome] = {}


@pytest.fixture(scope="module", autouse=True)
def results_table() -> Iterator[None]:
    """After the module: the results table of docs/reliability.md, printed (visible with -s) and
    written to $CHAOS_RESULTS when set."""
    yield
    if not _outcomes:
        return
    table = "\n".join([*TABLE_HEADER, *(table_row(o) for o in _outcomes.values())])
    print(f"\n{table}")
    target = os.environ.get("CHAOS_RESULTS")
    if target:
        Path(target).write_text(table + "\n")


def outcome_of(scenario: str, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """Run `scenario` once per session; every test of it reads the same outcome."""
    if scenario not in _outcomes:
        workdir: Path = tmp_path_factory.mktemp(f"chaos-{scenario}")
        outcome = asyncio.run(run_scenario(scenario, from_env(), workdir))
        print(outcome.verdict.line())
        _outcomes[scenario] = outcome
    return _outcomes[scenario]


def describe(outcome: Outcome) -> str:
    v = outcome.verdict
    return "\n".join([v.line(), *v.lost_examples, *v.notes])


@pytest.mark.parametrize(
    "scenario",
    [
        "baseline",
        "kill-router",
        "kill-history",
        "kill-push-worker",
        "kill-gateway",
        "redis-restart",
        "redis-empty",
        "redis-unreachable",
        "redis-full",
        "partition-router",
        "partition-gateway",
        "gateway-sigstop",
        "history-stalled",
        "postgres-down",
        "fcm-unavailable",
        "rolling-sigterm",
    ],
)
def test_scenario_loses_nothing(scenario: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    outcome = outcome_of(scenario, tmp_path_factory)
    assert outcome.verdict.ok, describe(outcome)


def test_rolling_sigterm_exits_every_service_with_status_0(tmp_path_factory: pytest.TempPathFactory) -> None:
    outcome = outcome_of("rolling-sigterm", tmp_path_factory)
    assert outcome.target.exit_codes
    assert all(code == 0 for code in outcome.target.exit_codes.values()), outcome.target.exit_codes


def test_rolling_sigterm_stops_every_service_within_its_grace_time(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    outcome = outcome_of("rolling-sigterm", tmp_path_factory)
    # SHUTDOWN_GRACE_S defaults to 10 s; the process must be gone shortly after (not SIGKILLed at 30 s).
    slow = {n: round(s, 1) for n, s in outcome.target.stop_seconds.items() if s > SHUTDOWN_GRACE_S + 5}
    assert not slow, slow


@pytest.mark.parametrize("scenario", ["redis-restart", "redis-unreachable"])
def test_services_keep_running_through_a_redis_outage(
    scenario: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outcome = outcome_of(scenario, tmp_path_factory)
    assert all(outcome.alive_after.values()), outcome.alive_after


def test_services_back_off_while_redis_is_unreachable(tmp_path_factory: pytest.TempPathFactory) -> None:
    outcome = outcome_of("redis-unreachable", tmp_path_factory)
    # Full-jitter back-off from 0.1 s to 5 s: a handful of rounds per loop, never a hot loop.
    bound = 5 * from_env().outage_s
    hot = {n: c for n, c in outcome.redis_retries.items() if c > bound}
    assert not hot, f"more than {bound} reconnect rounds: {hot}"


def test_every_service_reports_not_ready_while_redis_is_unreachable(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    outcome = outcome_of("redis-unreachable", tmp_path_factory)
    start, end = outcome.target.fault_window
    not_ready = outcome.readiness.not_ready_between(start, end)
    assert not_ready == set(outcome.alive_after), f"only {sorted(not_ready)} reported not ready"


def test_history_reports_not_ready_while_postgres_is_down(tmp_path_factory: pytest.TempPathFactory) -> None:
    outcome = outcome_of("postgres-down", tmp_path_factory)
    start, end = outcome.target.fault_window
    assert "history" in outcome.readiness.not_ready_between(start, end)
    assert all(outcome.alive_after.values()), outcome.alive_after


def test_fcm_outage_causes_no_hot_retry_loop(tmp_path_factory: pytest.TempPathFactory) -> None:
    outcome = outcome_of("fcm-unavailable", tmp_path_factory)
    start, end = outcome.target.fault_window
    timing = from_env()
    # Offered: at most every event's offline recipients, about 0.3 pushes per event. A worker that
    # backs off (and honours Retry-After) sends a few times that; a hot loop sends thousands per second.
    offered = timing.rate_per_s * (end - start) * 0.3
    assert outcome.target.fcm_requests_during_fault <= 5 * offered + 50, describe(outcome)
