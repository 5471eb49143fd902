"""S5 history: rows/s stored from the ingress stream (SQLite, PostgreSQL) and inbox page latency."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import redis
from notify_common.keys import GROUP_HISTORY, Keys
from notify_common.publish import build_event
from notify_common.schemas import FIELD_EVENT, encode

from bench.fleetrun import fleet_run
from bench.procstats import CpuMeter
from bench.sizes import Sizes

CHUNK = 1000
POLL_S = 0.05
DEADLINE_S = 240.0


def group_done(client: redis.Redis, keys: Keys, group_name: str, events: int) -> bool:
    for group in client.xinfo_groups(keys.ingress):
        name = group["name"]
        if (name.decode() if isinstance(name, bytes) else name) == group_name:
            return int(group.get("entries-read") or 0) >= events and int(group["pending"]) == 0
    return False


def publish_events(client: redis.Redis, keys: Keys, sizes: Sizes, tag: str) -> None:
    for first in range(0, sizes.s5_events, CHUNK):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(first + CHUNK, sizes.s5_events)):
            ids = [
                f"h{(i * sizes.s5_users_per_event + k) % 100_000}" for k in range(sizes.s5_users_per_event)
            ]
            event = build_event(
                id=f"s5-{tag}-{i}",
                type="bench.history",
                title="bench",
                audience={"kind": "users", "ids": ids},
            )
            pipe.xadd(keys.ingress, {FIELD_EVENT: encode(event)})
        pipe.execute()


def sqlite_rows_per_s(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    with fleet_run(workdir, gateways=0, services=("history",)) as fr:
        meter = CpuMeter(fr.pids()).start()
        started = time.monotonic()
        publish_events(fr.client, fr.keys, sizes, "sqlite")
        deadline = started + DEADLINE_S
        while not group_done(fr.client, fr.keys, GROUP_HISTORY, sizes.s5_events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"history did not store {sizes.s5_events} events in {DEADLINE_S}s")
            time.sleep(POLL_S)
        elapsed = time.monotonic() - started
        cpu = meter.stop()
        with sqlite3.connect(workdir / "history.db") as db:
            rows = int(db.execute("SELECT count(*) FROM inbox").fetchone()[0])  # one row per recipient
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed, 1), "cpu_s": cpu}


def run(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    sqlite = sqlite_rows_per_s(sizes, workdir / "sqlite")
    return {
        "events": sizes.s5_events,
        "users_per_event": sizes.s5_users_per_event,
        "sqlite": sqlite,
        "sqlite_rows_per_s": sqlite["rows_per_s"],
        "pg_rows_per_s": None,
        "pg_skipped": "history has no PostgreSQL store on main yet",
        "inbox_p99_ms": None,
        "inbox_skipped": "history has no inbox API on main yet",
    }
