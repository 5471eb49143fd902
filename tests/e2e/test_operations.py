"""Operating a running fleet: notifyctl replays a dead letter end to end and reads lag; the
dashboard and alert rules name only metrics the services (and the stream exporter) export."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
import yaml
from devstack.fleet import Fleet, dev_token
from devstack.ports import free_port
from notify_common.redis_conn import connect
from notify_common.schemas import DeadLetter

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def notifyctl(fleet: Fleet, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        "REDIS_URL": fleet.redis_url,
        "KEY_PREFIX": fleet.key_prefix,
        "STREAM_SHARDS": str(fleet.stream_shards),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "notifyctl", *argv], env=env, capture_output=True, text=True, timeout=30
    )


async def next_notification(ws: aiohttp.ClientWebSocketResponse, timeout: float = 15.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        msg = await asyncio.wait_for(ws.receive(), max(0.1, deadline - time.monotonic()))
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame: dict[str, object] = json.loads(msg.data)
        if frame.get("type") == "notification":
            return frame


async def test_replayed_dead_letter_reaches_the_connected_client_once(fleet: Fleet) -> None:
    client = connect(fleet.redis_url)
    keys = fleet.keys
    event = (
        b'{"id":"replay-evt-1","type":"ops.test","title":"back","audience":{"kind":"users","ids":["rp-1"]}}'
    )
    meta = DeadLetter(
        source_stream=keys.ingress,
        source_id="1-0",
        group="router",
        consumer="router",
        reason="dead-lettered by the test",
        deliveries=1,
        at_ms=0,
    )
    dead_id = (
        await client.xadd(keys.dead_letters, {b"meta": msgspec.json.encode(meta), b"o:event": event})
    ).decode()
    async with aiohttp.ClientSession() as http:
        url = fleet.gateway_url("gateway-1")
        async with http.ws_connect(url, headers={"Authorization": f"Bearer {dev_token('rp-1')}"}) as ws:
            await asyncio.wait_for(ws.receive(), 10)  # hello
            first = notifyctl(fleet, "dead", "replay", dead_id)
            assert first.returncode == 0, first.stderr
            frame = await next_notification(ws)
    again = notifyctl(fleet, "dead", "replay", dead_id)
    assert "already replayed" in again.stdout
    notification = frame["notification"]
    assert isinstance(notification, dict) and notification["id"] == "replay-evt-1"
    replays = [f for _, f in await client.xrange(keys.ingress) if f.get(b"replay_of") == dead_id.encode()]
    assert len(replays) == 1
    assert not await client.xrange(keys.dead_letters, dead_id, dead_id)
    await client.aclose()


def test_lag_shows_the_fleet_groups_caught_up(fleet: Fleet) -> None:
    deadline = time.monotonic() + 20
    groups: dict[str, dict[str, object]] = {}
    while time.monotonic() < deadline:
        result = notifyctl(fleet, "lag", "--json")
        assert result.returncode == 0, result.stderr
        report = {s["stream"]: s for s in json.loads(result.stdout)}
        groups = {g["group"]: g for g in report[fleet.keys.ingress]["groups"]}
        caught_up = all(g["lag"] == 0 and g["pending"] == 0 for g in groups.values())
        if {"router", "history"} <= set(groups) and caught_up:
            break
        time.sleep(0.2)
    assert {"router", "history"} <= set(groups)
    assert all(g["lag"] == 0 and g["pending"] == 0 for g in groups.values()), groups


@pytest.fixture(scope="module")
def exporter_url(fleet: Fleet) -> Iterator[str]:
    port = free_port()
    env = {
        "REDIS_URL": fleet.redis_url,
        "KEY_PREFIX": fleet.key_prefix,
        "STREAM_SHARDS": str(fleet.stream_shards),
        "OPS_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifyctl", "exporter"], env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "exporter did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def exported_names(text: str) -> set[str]:
    """Metric family names and sample names in an exposition (families without samples included)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            if kind in ("histogram", "summary"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def queried_names(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in re.findall(r"\bnf_[a-z0-9_]+", expr)}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/notification-fleet.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def fleet_metric_names(fleet: Fleet, exporter_url: str) -> set[str]:
    names = exported_names(scrape(exporter_url))
    for proc in fleet.processes.values():
        names |= exported_names(scrape(f"http://127.0.0.1:{proc.ops_port}"))
    return names


def test_every_dashboard_query_names_an_exported_metric(fleet_metric_names: set[str]) -> None:
    assert queried_names(dashboard_expressions()) - fleet_metric_names == set()


def test_every_alert_rule_names_an_exported_metric(fleet_metric_names: set[str]) -> None:
    assert queried_names(alert_expressions()) - fleet_metric_names == set()


def test_exporter_reports_lag_of_the_fleet_groups(exporter_url: str, fleet: Fleet) -> None:
    ingress = fleet.keys.ingress
    assert f'nf_stream_group_lag{{group="router",stream="{ingress}"}}' in scrape(exporter_url)


def test_every_exported_metric_is_documented(fleet_metric_names: set[str]) -> None:
    documented = set(re.findall(r"`(nf_[a-z0-9_]+)`", (ROOT / "docs/operations.md").read_text()))
    families = {n for n in fleet_metric_names if n.startswith("nf_")}
    families = {n for n in families if not re.search(r"_(bucket|sum|count|created)$", n) or n in documented}
    missing = families - documented
    assert missing == set(), "add these metrics to the table in docs/operations.md"
