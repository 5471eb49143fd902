"""S5 history: rows/s stored from the ingress stream (SQLite, PostgreSQL), history CPU per
notification at a steady rate, and inbox page latency.

Rows are inbox rows (one per recipient). The steady part publishes unicasts at
`s5_paced_rate_per_s`, each with one `delivered` receipt (what the delivery path produces), and
reads history's CPU over `s5_paced_seconds` after a warm-up second: at 1,000/s the per-batch
costs (commit, XACK, round trips) are what the write window amortises.

The inbox query runs against PostgreSQL after the inbox table has been bulk-loaded to
`s5_inbox_rows` rows (10 recipients per notification, 100 notifications per user) straight in
SQL: loading a million rows through the stream would measure the writer again and blow the
time budget.
"""

from __future__ import annotations

import asyncio
import http.client
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import redis
from devstack.fleet import dev_token
from devstack.postgres_server import PostgresMissing, start_postgres
from notify_common.clock import now_ms
from notify_common.keys import GROUP_HISTORY, Keys
from notify_common.publish import build_event
from notify_common.receipts import receipt_command
from notify_common.schemas import FIELD_EVENT, Receipt, encode

from bench.fleetrun import BENCH_ROLE, FleetRun, fleet_run
from bench.histogram import Histogram
from bench.procstats import CpuMeter
from bench.profiling import Profiler
from bench.redis_clients import group_progress
from bench.sizes import Sizes

CHUNK = 1000
POLL_S = 0.05
DEADLINE_S = 240.0
RECIPIENTS_PER_BULK_NOTIFICATION = 10
BULK_ROWS_PER_USER = 100
PAGE = 20
PACED_WARMUP_S = 1.0
PACED_USERS = 10_000


def group_done(client: redis.Redis, keys: Keys, group_name: str, events: int) -> bool:
    read, pending = group_progress(client, keys.ingress_shards, group_name)
    return read >= events and pending == 0


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


def measure_ingest(fr: FleetRun, sizes: Sizes, tag: str) -> tuple[float, dict[str, float]]:
    """Seconds from the first XADD until history acked every event, and CPU per process."""
    meter = CpuMeter(fr.pids()).start()
    started = time.monotonic()
    publish_events(fr.client, fr.keys, sizes, tag)
    deadline = started + DEADLINE_S
    while not group_done(fr.client, fr.keys, GROUP_HISTORY, sizes.s5_events):
        if time.monotonic() > deadline:
            raise TimeoutError(f"history did not store {sizes.s5_events} events in {DEADLINE_S}s")
        time.sleep(POLL_S)
    return time.monotonic() - started, meter.stop()


def caught_up(client: redis.Redis, stream: str) -> bool:
    """History has read and acked everything `stream` holds."""
    last = client.xinfo_stream(stream)["last-generated-id"]
    for group in client.xinfo_groups(stream):
        name = group["name"]
        if (name.decode() if isinstance(name, bytes) else name) == GROUP_HISTORY:
            return bool(group["last-delivered-id"] == last and int(group["pending"]) == 0)
    return False


def commits(fr: FleetRun) -> float:
    """History's nf_history_commits_total, from its /metrics."""
    url = f"http://127.0.0.1:{fr.fleet.processes['history'].ops_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("nf_history_commits_total "):
                return float(line.split()[1])
    return 0.0


def publish_unicasts_with_receipts(fr: FleetRun, tag: str, first: int, last: int) -> None:
    """Events first…last-1 to one user each, each with the `delivered` receipt a gateway writes."""
    pipe = fr.client.pipeline(transaction=False)
    for i in range(first, last):
        nid, user = f"s5p-{tag}-{i}", f"p{i % PACED_USERS}"
        event = build_event(
            id=nid, type="bench.history", title="bench", audience={"kind": "users", "ids": [user]}
        )
        receipt = Receipt(
            notification_id=nid,
            user_id=user,
            kind="delivered",
            channel="socket",
            node="gateway-1",
            at_ms=now_ms(),
        )
        pipe.xadd(fr.keys.ingress, {FIELD_EVENT: encode(event)})
        pipe.execute_command(*receipt_command(fr.keys, receipt))
    pipe.execute()


def paced_cpu(fr: FleetRun, sizes: Sizes, tag: str, profiler: Profiler) -> dict[str, Any]:
    """History CPU per notification while unicasts and their receipts arrive at a steady rate."""
    rate = sizes.s5_paced_rate_per_s
    pid = fr.fleet.pids()["history"]
    warm = int(rate * PACED_WARMUP_S)
    total = warm + int(rate * sizes.s5_paced_seconds)
    meter = CpuMeter({"history": pid})
    measured_from, commits_from, t0 = 0, 0.0, 0.0
    sent = 0
    started = time.monotonic()
    with profiler.attach(
        f"s5-{tag}", {"history": pid}, PACED_WARMUP_S + sizes.s5_paced_seconds, ("history",)
    ):
        while sent < total:
            if not t0 and sent >= warm:
                meter.start()
                measured_from, commits_from, t0 = sent, commits(fr), time.monotonic()
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            publish_unicasts_with_receipts(fr, tag, sent, due)
            sent = due
            pause = started + sent / rate - time.monotonic()
            if pause > 0 and sent < total:
                time.sleep(pause)
        seconds = time.monotonic() - t0
        cpu = meter.stop()["history"]
        committed = commits(fr) - commits_from
    deadline = time.monotonic() + DEADLINE_S
    streams = (fr.keys.ingress, fr.keys.receipts)
    while not all(caught_up(fr.client, s) for s in streams):
        if time.monotonic() > deadline:
            raise TimeoutError(f"history did not store {sent} paced events in {DEADLINE_S}s")
        time.sleep(POLL_S)
    notifications = sent - measured_from
    return {
        "rate_per_s": round(notifications / seconds, 1),
        "notifications": notifications,
        "history_cpu_s": cpu,
        "cpu_us_per_notification": round(cpu / notifications * 1e6, 1),
        "commits_per_s": round(committed / seconds, 1),
    }


def sqlite_rows_per_s(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    with fleet_run(workdir, gateways=0, services=("history",)) as fr:
        elapsed, cpu = measure_ingest(fr, sizes, "sqlite")
        with sqlite3.connect(workdir / "history.db") as db:
            rows = int(db.execute("SELECT count(*) FROM inbox").fetchone()[0])  # one row per recipient
        paced = paced_cpu(fr, sizes, "sqlite", profiler)
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1),
        "cpu_s": cpu,
        "paced": paced,
    }


async def _pg_count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM inbox"))
    finally:
        await conn.close()


async def _pg_bulk_load(url: str, rows: int) -> int:
    """Fill inbox to about `rows` rows for users b0…; returns the number of bulk users."""
    notifications = max(1, rows // RECIPIENTS_PER_BULK_NOTIFICATION)
    users = max(1, rows // BULK_ROWS_PER_USER)
    base_ms = now_ms() - notifications
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """INSERT INTO notifications (id, type, category, title, body, data, priority, audience,
                   room, source, created_ms, expires_ms)
               SELECT 'bulk-' || g, 'bench.bulk', NULL, 'bench', '', '{}', 'normal', 'users',
                   NULL, NULL, $1::bigint + g, NULL
               FROM generate_series(1, $2::int) g""",
            base_ms,
            notifications,
        )
        await conn.execute(
            """INSERT INTO inbox (user_id, notification_id, type, created_ms)
               SELECT 'b' || ((g * $3::int + k) % $4::int), 'bulk-' || g, 'bench.bulk', $1::bigint + g
               FROM generate_series(1, $2::int) g, generate_series(0, $3::int - 1) k""",
            base_ms,
            notifications,
            RECIPIENTS_PER_BULK_NOTIFICATION,
            users,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return users


def inbox_latency(base_url: str, users: int, queries: int) -> dict[str, Any]:
    """First-page inbox requests for distinct users over one keep-alive HTTP connection."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    hist = Histogram()
    empty = 0
    try:
        for i in range(queries):
            user = f"b{(i * 7919) % users}"
            headers = {"Authorization": f"Bearer {dev_token(user, [BENCH_ROLE])}"}
            started = time.perf_counter_ns()
            conn.request("GET", f"/v1/inbox?limit={PAGE}", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            hist.record((time.perf_counter_ns() - started) / 1000)
            if resp.status != 200:
                raise RuntimeError(f"inbox answered {resp.status}: {body[:200]!r}")
            empty += body.count(b'"id"') == 0
    finally:
        conn.close()
    return {"queries": queries, "page": PAGE, "empty_pages": empty, **hist.summary_ms()}


def postgres_part(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    server, url = start_postgres(durable=True, database="nf_bench")
    try:
        env = {"history": {"DATABASE_URL": url}}
        with fleet_run(workdir, gateways=0, services=("history",), service_env=env) as fr:
            elapsed, cpu = measure_ingest(fr, sizes, "pg")
            rows = asyncio.run(_pg_count(url))
            paced = paced_cpu(fr, sizes, "pg", profiler)
            load_started = time.monotonic()
            users = asyncio.run(_pg_bulk_load(url, sizes.s5_inbox_rows))
            load_s = time.monotonic() - load_started
            total_rows = asyncio.run(_pg_count(url))
            inbox = inbox_latency(fr.fleet.inbox_url(), users, sizes.s5_inbox_queries)
    finally:
        server.stop()
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1),
        "cpu_s": cpu,
        "paced": paced,
        "inbox": {"table_rows": total_rows, "bulk_load_s": round(load_s, 1), **inbox},
    }


def run(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    result: dict[str, Any] = {"events": sizes.s5_events, "users_per_event": sizes.s5_users_per_event}
    sqlite = sqlite_rows_per_s(sizes, workdir / "sqlite", profiler)
    result |= {
        "sqlite": sqlite,
        "sqlite_rows_per_s": sqlite["rows_per_s"],
        "sqlite_cpu_us_per_notification": sqlite["paced"]["cpu_us_per_notification"],
    }
    try:
        pg = postgres_part(sizes, workdir / "pg", profiler)
    except PostgresMissing as exc:
        return result | {"pg_skipped": str(exc), "inbox_skipped": str(exc)}
    return result | {
        "pg": pg,
        "pg_rows_per_s": pg["rows_per_s"],
        "pg_cpu_us_per_notification": pg["paced"]["cpu_us_per_notification"],
        "inbox_p50_ms": pg["inbox"]["p50_ms"],
        "inbox_p99_ms": pg["inbox"]["p99_ms"],
    }
