"""The results table of docs/reliability.md, one row per scenario run."""

from __future__ import annotations

from chaos.run import Outcome

TABLE_HEADER = [
    "| scenario | events | delivered | pushed | dead-lettered | lost | duplicates | recovery time |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]


def table_row(outcome: Outcome) -> str:
    v = outcome.verdict
    recovery = "-" if v.recovery_s is None else f"{v.recovery_s:.1f} s"
    lost = v.lost + v.unstored
    return (
        f"| {v.scenario} | {v.events} | {v.delivered} | {v.pushed} | {v.dead_lettered} | {lost} "
        f"| {v.duplicates} | {recovery} |"
    )
