"""The HTTP control API (/_fake/...) and the bounded message log."""

from __future__ import annotations

from pathlib import Path

import firebase_admin
import requests
from fcm_fake.behaviours import Behaviour
from fcm_fake.credentials import write_service_account
from fcm_fake.runner import FakeHandle, start_in_thread
from fcm_testkit import access_token, message
from firebase_admin import messaging


def post_behaviours(fake: FakeHandle, spec: object) -> requests.Response:
    return requests.post(f"{fake.base_url}/_fake/behaviours", json=spec, timeout=5)


async def test_behaviours_set_over_http_script_tokens_prefixes_and_default(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    spec = {
        "default": {"kind": "sender_id_mismatch"},
        "tokens": {"ctl": {"kind": "unregistered"}},
        "prefixes": {"vip-": {"kind": "quota", "retry_after_s": 9}},
    }
    assert post_behaviours(fake, spec).json() == {"ok": True}
    response = await messaging.send_each_async([message("ctl"), message("vip-1"), message("x")], app=app)
    ctl, vip, other = (r.exception for r in response.responses)
    assert isinstance(ctl, messaging.UnregisteredError)
    assert isinstance(vip, messaging.QuotaExceededError)
    assert vip.http_response.headers["Retry-After"] == "9"
    assert isinstance(other, messaging.SenderIdMismatchError)

    assert requests.delete(f"{fake.base_url}/_fake/behaviours", timeout=5).status_code == 200
    response = await messaging.send_each_async([message("ctl"), message("vip-1"), message("x")], app=app)
    assert response.success_count == 3


async def test_times_and_delay_over_http(fake: FakeHandle, app: firebase_admin.App) -> None:
    spec = {"tokens": {"twice": {"kind": "unavailable", "times": 2, "retry_after_s": 0}}}
    post_behaviours(fake, spec)
    post_behaviours(fake, {"tokens": {"late": {"kind": "slow", "delay_ms": 50}}})
    response = await messaging.send_each_async([message("twice"), message("late")], app=app)
    assert response.success_count == 2
    assert [m.outcome for m in fake.state.received() if m.target == "twice"] == ["unavailable"] * 2 + ["ok"]


async def test_messages_and_stats_are_read_and_reset_over_http(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    fake.state.script.set_for("bad", Behaviour("unregistered"))
    await messaging.send_each_async([message("good"), message("bad")], app=app, dry_run=True)
    received = requests.get(f"{fake.base_url}/_fake/messages", timeout=5).json()
    by_target = {m["target"]: m for m in received}
    assert set(by_target) == {"good", "bad"}
    assert by_target["good"]["message"] == {"fid": "good", "notification": {"title": "t", "body": "b"}}
    assert by_target["good"]["validate_only"] is True
    assert (by_target["good"]["outcome"], by_target["bad"]["outcome"]) == ("ok", "unregistered")
    assert by_target["good"]["at"] > 1.7e9
    stats = requests.get(f"{fake.base_url}/_fake/stats", timeout=5).json()
    assert stats["requests"] == 2 and stats["outcome:ok"] == 1 and stats["outcome:unregistered"] == 1

    assert requests.delete(f"{fake.base_url}/_fake/messages", timeout=5).status_code == 200
    assert requests.get(f"{fake.base_url}/_fake/messages", timeout=5).json() == []
    assert requests.get(f"{fake.base_url}/_fake/stats", timeout=5).json() == {}


def test_a_bad_behaviour_is_refused_and_changes_nothing(fake: FakeHandle, service_account: Path) -> None:
    for spec in (
        {"tokens": {"a": {"kind": "unregistered"}}, "default": {"kind": "explode"}},
        {"tokens": ["a"]},
        {"tokens": {"a": "unregistered"}},
        {"tokens": {"a": {"kind": "slow", "delay_ms": "soon"}}},
        ["not", "an", "object"],
    ):
        resp = post_behaviours(fake, spec)
        assert resp.status_code == 400, spec
    assert fake.state.script.decide("a") == Behaviour()


def test_received_messages_are_a_bounded_ring_but_counters_are_not(tmp_path: Path) -> None:
    with start_in_thread(keep_messages=3) as small:
        sa = write_service_account(tmp_path / "sa.json", small.base_url)
        auth = {"Authorization": f"Bearer {access_token(small, sa)}"}
        url = f"{small.base_url}/v1/projects/p/messages:send"
        for i in range(5):
            body = {"message": {"token": f"t{i}"}}
            assert requests.post(url, json=body, headers=auth, timeout=5).status_code == 200
        assert [m.target for m in small.state.received()] == ["t2", "t3", "t4"]
        assert small.state.stats()["requests"] == 5
