"""The reliability tier on a Redis Cluster and on a Sentinel group: a master fails over to its
replica in the middle of load and nothing is lost. `make test-cluster`; docs/reliability.md."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.report import TABLE_HEADER, table_row
from chaos.run import Outcome, run_scenario
from chaos.timing import from_env

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
_outcomes: dict[str, Outcome] = {}


@pytest.fixture(scope="module", autouse=True)
def results_table() -> Iterator[None]:
    """After the module: the results table, printed (visible with -s) and written to
    $CHAOS_RESULTS when set."""
    yield
    if not _outcomes:
        return
    table = "\n".join([*TABLE_HEADER, *(table_row(o) for o in _outcomes.values())])
    print(f"\n{table}")
    target = os.environ.get("CHAOS_RESULTS")
    if target:
        Path(target).write_text(table + "\n")


@pytest.mark.parametrize(
    "scenario", ["cluster-baseline", "cluster-failover", "cluster-kill-master", "sentinel-kill-master"]
)
def test_failover_loses_nothing(scenario: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir: Path = tmp_path_factory.mktemp(f"chaos-{scenario}")
    outcome = asyncio.run(run_scenario(scenario, from_env(), workdir))
    _outcomes[scenario] = outcome
    verdict = outcome.verdict
    print(verdict.line(), *verdict.notes)
    assert verdict.ok, "\n".join([verdict.line(), *verdict.lost_examples, *verdict.notes])
    assert all(outcome.alive_after.values()), outcome.alive_after
