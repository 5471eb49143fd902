"""notifyctl against a real Redis: lag, stuck consumers, dead letters (no fleet needed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import msgspec
import pytest
import redis
from notify_common.keys import Keys
from notify_common.schemas import DeadLetter
from notifyctl.cli import main


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    sync = redis.Redis.from_url(redis_url)
    try:
        yield sync
    finally:
        sync.close()


def run(redis_url: str, keys: Keys, *argv: str) -> int:
    return main(["--redis-url", redis_url, "--prefix", keys.prefix, *argv])


def dead_letter(client: redis.Redis, keys: Keys, event: bytes, source_id: str = "1-1") -> str:
    meta = DeadLetter(
        source_stream=keys.ingress,
        source_id=source_id,
        group="router",
        consumer="router-1",
        reason="test",
        deliveries=1,
        at_ms=0,
    )
    entry_id = client.xadd(keys.dead_letters, {b"meta": msgspec.json.encode(meta), b"o:event": event})
    return entry_id.decode()


def test_lag_reports_unread_and_pending_entries_per_group(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(5):
        client.xadd(keys.push_jobs, {b"job": str(i).encode()})
    client.xgroup_create(keys.push_jobs, "push-worker", id="0")
    client.xreadgroup("push-worker", "w1", {keys.push_jobs: ">"}, count=2)
    assert run(redis_url, keys, "lag", "--json") == 0
    report = {s["stream"]: s for s in json.loads(capsys.readouterr().out)}
    push = report[keys.push_jobs]
    assert push["length"] == 5
    assert push["groups"][0] | {"consumers": None} == {
        "group": "push-worker",
        "lag": 3,
        "pending": 2,
        "last_delivered_id": push["groups"][0]["last_delivered_id"],
        "consumers": None,
    }


def test_lag_lists_node_delivery_streams(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    client.xadd(keys.node_deliveries("gw-7"), {b"delivery": b"{}"})
    assert run(redis_url, keys, "lag") == 0
    assert keys.node_deliveries("gw-7") in capsys.readouterr().out


def test_stuck_names_a_consumer_sitting_on_pending_entries(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    client.xadd(keys.receipts, {b"receipt": b"{}"})
    client.xgroup_create(keys.receipts, "history", id="0")
    client.xreadgroup("history", "history-dead", {keys.receipts: ">"})
    assert run(redis_url, keys, "stuck", "--idle-ms", "1") == 1
    assert "history-dead" in capsys.readouterr().out


def test_replay_puts_the_original_back_once_and_removes_the_dead_letter(
    client: redis.Redis, redis_url: str, keys: Keys
) -> None:
    event = b'{"id":"e-1","type":"t","audience":{"kind":"all"}}'
    dead_id = dead_letter(client, keys, event)
    assert run(redis_url, keys, "dead", "replay", dead_id) == 0
    assert run(redis_url, keys, "dead", "replay", dead_id) == 0
    replayed = client.xrange(keys.ingress)
    assert [fields for _, fields in replayed] == [{b"event": event, b"replay_of": dead_id.encode()}]
    assert client.xlen(keys.dead_letters) == 0


def test_replay_keeps_the_notification_id_of_an_event_without_one(
    client: redis.Redis, redis_url: str, keys: Keys
) -> None:
    dead_id = dead_letter(client, keys, b'{"type":"t","audience":{"kind":"all"}}', source_id="17-3")
    assert run(redis_url, keys, "dead", "replay", dead_id) == 0
    ((_, fields),) = client.xrange(keys.ingress)
    assert json.loads(fields[b"event"])["id"] == "evt-17-3"


def test_replay_of_an_unknown_id_fails_and_adds_nothing(
    client: redis.Redis, redis_url: str, keys: Keys
) -> None:
    assert run(redis_url, keys, "dead", "replay", "12345-0") == 1
    assert client.exists(keys.ingress) == 0


def test_purge_all_needs_yes(client: redis.Redis, redis_url: str, keys: Keys) -> None:
    dead_letter(client, keys, b"{}")
    assert run(redis_url, keys, "dead", "purge", "--all") == 2
    assert run(redis_url, keys, "dead", "purge", "--all", "--yes") == 0
    assert client.xlen(keys.dead_letters) == 0


def test_show_prints_reason_and_original_fields(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_id = dead_letter(client, keys, b'{"type":"t"}')
    assert run(redis_url, keys, "dead", "show", dead_id) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["meta"]["reason"] == "test"
    assert shown["original"] == {"event": '{"type":"t"}'}


def test_publish_rejects_an_invalid_event_with_the_reason(
    redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(redis_url, keys, "publish", "--user", "42", "--type", "bad type!") == 2
    assert "invalid event" in capsys.readouterr().err


COMMANDS = [
    "publish",
    "user",
    "lag",
    "stuck",
    "exporter",
    "dead",
    "dead list",
    "dead show",
    "dead replay",
    "dead purge",
]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--help"])
    assert exited.value.code == 0
    assert "usage: notifyctl" in capsys.readouterr().out


def test_user_shows_live_nodes_and_devices(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    now_ms = int(time.time() * 1000)
    client.zadd(keys.live_nodes, {"gw-1": now_ms, "gw-dead": now_ms - 3_600_000})
    client.hset(keys.user_presence("42"), mapping={"gw-1": 2, "gw-dead": 1})
    client.hset(
        keys.devices("42"), "tok-abcdef", msgspec.json.encode({"platform": "ios", "last_seen_ms": now_ms})
    )
    assert run(redis_url, keys, "user", "42") == 0
    shown = capsys.readouterr().out
    assert "online, 2 connection(s)" in shown and "node gw-1: 2" in shown and "gw-dead" not in shown
    assert "devices: 1" in shown and "ios" in shown
