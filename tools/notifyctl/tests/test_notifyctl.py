"""notifyctl against a real Redis: lag, stuck consumers, dead letters (no fleet needed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from importlib.metadata import version

import msgspec
import pytest
import redis
from notify_common.keys import Keys
from notify_common.schemas import DeadLetter
from notifyctl.cli import build_parser, main, redis_target
from notifyctl.config import CtlConfig
from notifyctl.dead_letters import SCAN_PAGE


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    sync = redis.Redis.from_url(redis_url)
    try:
        yield sync
    finally:
        sync.close()


def run(redis_url: str, keys: Keys, *argv: str) -> int:
    return main(["--redis-url", redis_url, "--prefix", keys.prefix, *argv])


@pytest.fixture
def no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


def dead_letter(
    client: redis.Redis,
    keys: Keys,
    event: bytes,
    source_id: str = "1-1",
    group: str = "router",
    reason: str = "test",
) -> str:
    meta = DeadLetter(
        source_stream=keys.ingress,
        source_id=source_id,
        group=group,
        consumer=f"{group}-1",
        reason=reason,
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


BAD_EVENT = b'{"id":"bad-1","type":5,"audience":{"kind":"all"}}'


def test_dead_list_shows_one_problem_for_the_router_and_history_dead_letters_of_an_event(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = "invalid event: Expected `str`, got `int` - at `$.type`"
    first = dead_letter(client, keys, BAD_EVENT, "5-0", "router", reason)
    second = dead_letter(client, keys, BAD_EVENT, "5-0", "history", reason)
    other = dead_letter(
        client, keys, b'{"type":"t"}', "6-0", "history", "gave up after 5 deliveries: db down"
    )
    assert run(redis_url, keys, "dead", "list", "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["dead_letters"] == 3 and listing["complete"] is True
    problem, lone = listing["problems"]
    assert (problem["source_stream"], problem["source_id"], problem["event_id"]) == (
        keys.ingress,
        "5-0",
        "bad-1",
    )
    assert problem["groups"] == ["router", "history"]
    assert problem["reasons"] == [{"reason": reason, "groups": ["router", "history"]}]
    assert [d["id"] for d in problem["dead_letters"]] == [first, second]
    assert (lone["event_id"], [d["id"] for d in lone["dead_letters"]]) == ("evt-6-0", [other])


def test_dead_list_text_names_each_problem_once_with_its_groups(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(client, keys, BAD_EVENT, "5-0", "router", "invalid event: x")
    dead_letter(client, keys, BAD_EVENT, "5-0", "history", "invalid event: x")
    assert run(redis_url, keys, "dead", "list") == 0
    shown = capsys.readouterr().out
    assert "2 dead letter(s)" in shown and "1 problem(s)" in shown
    assert shown.count(f"{keys.ingress} 5-0  event bad-1") == 1
    assert "refused by router, history" in shown and "router, history: invalid event: x" in shown


def test_dead_list_reads_past_one_page(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    pipe = client.pipeline()
    for i in range(SCAN_PAGE + 1):
        meta = DeadLetter(
            source_stream=keys.ingress,
            source_id=f"{i}-0",
            group="router",
            consumer="r",
            reason="x",
            deliveries=1,
            at_ms=0,
        )
        pipe.xadd(keys.dead_letters, {b"meta": msgspec.json.encode(meta), b"o:event": b"{}"})
    pipe.execute()
    assert run(redis_url, keys, "dead", "list", "--json", "--count", "1000") == 0
    listing = json.loads(capsys.readouterr().out)
    assert len(listing["problems"]) == SCAN_PAGE + 1 and listing["complete"] is True


def test_dead_list_says_when_it_read_only_part_of_the_stream(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        dead_letter(client, keys, b"{}", f"{i}-0")
    assert run(redis_url, keys, "dead", "list", "--json", "--scan", "2") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["complete"] is False
    assert "read the oldest 2 of 3 dead letters" in captured.err


def test_replaying_one_dead_letter_of_a_problem_appends_once_and_clears_its_sibling(
    client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    event = b'{"id":"e-2","type":"t","audience":{"kind":"all"}}'
    router = dead_letter(client, keys, event, "7-0", "router")
    history = dead_letter(client, keys, event, "7-0", "history")
    assert run(redis_url, keys, "dead", "replay", "--json", history) == 0
    (result,) = json.loads(capsys.readouterr().out)["replayed"]
    assert (result["dead_id"], result["cleared"]) == (history, [router])
    assert client.xlen(keys.ingress) == 1 and client.xlen(keys.dead_letters) == 0
    assert run(redis_url, keys, "dead", "replay", router) == 0
    assert "already replayed as" in capsys.readouterr().out
    assert client.xlen(keys.ingress) == 1


def test_replay_without_ids_replays_each_problem_once(
    client: redis.Redis, redis_url: str, keys: Keys
) -> None:
    for source in ("8-0", "9-0"):
        for group in ("router", "history"):
            dead_letter(client, keys, b'{"type":"t","audience":{"kind":"all"}}', source, group)
    assert run(redis_url, keys, "dead", "replay") == 0
    assert client.xlen(keys.ingress) == 2 and client.xlen(keys.dead_letters) == 0


@pytest.mark.parametrize(
    "argv", [["publish", "--user", "42"], ["dead", "replay", "1-0"], ["dead", "purge", "--all", "--yes"]]
)
def test_commands_that_write_refuse_without_a_named_redis(
    argv: list[str], no_redis_url: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "name its Redis with REDIS_URL or --redis-url" in err and "does not fall back" in err


def test_commands_that_write_run_with_redis_url_set(
    client: redis.Redis, redis_url: str, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["--prefix", keys.prefix, "publish", "--user", "42"]) == 0
    assert client.xlen(keys.ingress) == 1


def test_says_which_redis_it_uses_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--redis-url", "redis://:s3cret-pw@127.0.0.1:1/0", "lag"]) == 3
    err = capsys.readouterr().err
    assert "Redis redis://:***@127.0.0.1:1/0 (from --redis-url)" in err
    assert "s3cret-pw" not in err


def test_default_redis_is_named_as_the_default(no_redis_url: None) -> None:
    target = redis_target(None, CtlConfig())
    assert (target.url, target.source) == ("redis://127.0.0.1:6379/0", "")
    assert "neither REDIS_URL nor --redis-url is set" in target.describe()


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"notifyctl {version('notifyctl')}"


JSON_COMMANDS = [
    ["publish", "--user", "42"],
    ["user", "42"],
    ["lag"],
    ["stuck", "--idle-ms", "1"],
    ["dead", "list"],
    ["dead", "show", "{dead}"],
    ["dead", "replay", "{dead}"],
    ["dead", "purge", "{dead}"],
]


@pytest.mark.parametrize("argv", JSON_COMMANDS, ids=" ".join)
def test_every_command_answers_json(
    argv: list[str], client: redis.Redis, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_id = dead_letter(client, keys, b'{"type":"t","audience":{"kind":"all"}}')
    assert run(redis_url, keys, *[a.replace("{dead}", dead_id) for a in argv], "--json") in (0, 1)
    assert isinstance(json.loads(capsys.readouterr().out), dict | list)


def test_json_may_come_before_the_command(
    redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--json", "--redis-url", redis_url, "--prefix", keys.prefix, "lag"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)


def test_exporter_takes_json_too() -> None:
    assert build_parser().parse_args(["exporter", "--json"]).json is True


def test_user_judges_live_nodes_by_the_fleets_node_ttl(
    client: redis.Redis,
    redis_url: str,
    keys: Keys,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now_ms = int(time.time() * 1000)
    client.zadd(keys.live_nodes, {"gw-slow": now_ms - 60_000})  # a minute without a heartbeat
    client.hset(keys.user_presence("43"), mapping={"gw-slow": 1})
    monkeypatch.setenv("NODE_TTL_MS", "120000")
    assert run(redis_url, keys, "user", "43") == 0
    assert "node gw-slow: 1" in capsys.readouterr().out
    assert run(redis_url, keys, "user", "43", "--node-ttl-ms", "30000") == 0
    assert "gw-slow" not in capsys.readouterr().out
