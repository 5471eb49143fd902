"""The unmodified firebase-admin SDK (async path) talking to the fake: successes and every scripted error."""

from __future__ import annotations

from pathlib import Path

import firebase_admin
import httpx
import jwt
import pytest
import requests
from fcm_fake.behaviours import Behaviour
from fcm_fake.runner import FakeHandle
from fcm_testkit import access_token, message
from firebase_admin import exceptions, messaging

SEND_PATH = "/v1/projects/p/messages:send"


async def test_a_batch_of_50_is_accepted_and_recorded(fake: FakeHandle, app: firebase_admin.App) -> None:
    batch = [message(f"tok-{i}") for i in range(50)]
    response = await messaging.send_each_async(batch, app=app)
    assert response.success_count == 50
    assert all(r.message_id.startswith("projects/fake-project/messages/") for r in response.responses)
    assert len({r.message_id for r in response.responses}) == 50
    received = fake.state.received()
    assert sorted(m.target for m in received) == sorted(f"tok-{i}" for i in range(50))
    assert received[0].message["notification"] == {"title": "t", "body": "b"}
    assert fake.state.stats() == {"oauth_tokens": 1, "requests": 50, "outcome:ok": 50}


@pytest.mark.parametrize(
    ("kind", "error_class"),
    [
        ("unregistered", messaging.UnregisteredError),
        ("invalid_argument", exceptions.InvalidArgumentError),
        ("sender_id_mismatch", messaging.SenderIdMismatchError),
        ("quota", messaging.QuotaExceededError),
        ("third_party_auth", messaging.ThirdPartyAuthError),
    ],
)
async def test_scripted_errors_surface_as_the_sdk_classes(
    fake: FakeHandle, app: firebase_admin.App, kind: str, error_class: type[Exception]
) -> None:
    fake.state.script.set_for("victim", Behaviour(kind, retry_after_s=7))  # type: ignore[arg-type]
    response = await messaging.send_each_async([message("victim"), message("fine")], app=app)
    bad, good = response.responses
    assert good.success
    assert isinstance(bad.exception, error_class)
    if kind == "quota":  # the SDK's async path never retries 429: the worker reads Retry-After
        assert bad.exception.http_response.headers["Retry-After"] == "7"
        assert fake.state.stats()["outcome:quota"] == 1


async def test_third_party_auth_error_is_retried_twice_with_fresh_tokens(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    # A 401 makes the SDK refresh its token (blocking) and resend, twice, before raising.
    fake.state.script.set_for("apns-broken", Behaviour("third_party_auth"))
    response = await messaging.send_each_async([message("apns-broken")], app=app)
    assert isinstance(response.responses[0].exception, messaging.ThirdPartyAuthError)
    assert fake.state.stats() == {"oauth_tokens": 3, "requests": 3, "outcome:third_party_auth": 3}


async def test_503_once_is_absorbed_by_the_sdks_own_retry(fake: FakeHandle, app: firebase_admin.App) -> None:
    fake.state.script.set_for("u503", Behaviour("unavailable", times=1))
    response = await messaging.send_each_async([message("u503")], app=app)
    assert response.success_count == 1
    assert [m.outcome for m in fake.state.received()] == ["unavailable", "ok"]


@pytest.mark.slow
async def test_persistent_503_and_500_are_unavailable_and_internal_after_4_sdk_retries(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    # ~7 s: the SDK's async path retries 500/503 four times with backoff (both run concurrently).
    fake.state.script.set_for("always503", Behaviour("unavailable", retry_after_s=0))
    fake.state.script.set_for("always500", Behaviour("internal"))
    response = await messaging.send_each_async([message("always503"), message("always500")], app=app)
    assert isinstance(response.responses[0].exception, exceptions.UnavailableError)
    assert isinstance(response.responses[1].exception, exceptions.InternalError)
    assert fake.state.stats()["outcome:unavailable"] == 5
    assert fake.state.stats()["outcome:internal"] == 5


async def test_prefix_rules_script_tokens_by_name(fake: FakeHandle, app: firebase_admin.App) -> None:
    fake.state.script.set_prefix("gone-", Behaviour("unregistered"))
    names = ["unreg-1", "invalid-1", "mismatch-1", "quota-1", "authfail-1", "flaky503-1", "slow-1", "gone-1"]
    response = await messaging.send_each_async([message(n) for n in [*names, "ok-1"]], app=app)
    errors = [r.exception for r in response.responses]
    assert isinstance(errors[0], messaging.UnregisteredError)
    assert isinstance(errors[1], exceptions.InvalidArgumentError)
    assert isinstance(errors[2], messaging.SenderIdMismatchError)
    assert isinstance(errors[3], messaging.QuotaExceededError)
    assert errors[3].http_response.headers["Retry-After"] == "1"
    assert isinstance(errors[4], messaging.ThirdPartyAuthError)
    assert errors[5] is None and errors[6] is None  # flaky503- retried by the SDK; slow- is ok
    assert isinstance(errors[7], messaging.UnregisteredError)
    assert errors[8] is None
    flaky = [m.outcome for m in fake.state.received() if m.target == "flaky503-1"]
    assert flaky == ["unavailable", "ok"]  # failed once, then the SDK's retry succeeded


async def test_dropped_connection_is_unknown_error_without_retry(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    fake.state.script.set_for("dropme", Behaviour("drop"))
    response = await messaging.send_each_async([message("dropme"), message("fine")], app=app)
    error = response.responses[0].exception
    assert isinstance(error, exceptions.UnknownError)  # httpx's RemoteProtocolError, not ConnectError
    assert isinstance(error.cause, httpx.RemoteProtocolError)
    assert response.responses[1].success
    assert fake.state.stats()["outcome:drop"] == 1


async def test_dry_run_is_recorded_as_validate_only(fake: FakeHandle, app: firebase_admin.App) -> None:
    response = await messaging.send_each_async([message("dry")], dry_run=True, app=app)
    assert response.success_count == 1
    assert [(m.target, m.validate_only) for m in fake.state.received()] == [("dry", True)]


async def test_topic_sends_are_scripted_and_recorded_as_topic_targets(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    fake.state.script.set_for("topic:closed", Behaviour("invalid_argument"))
    batch = [messaging.Message(topic="news", data={"k": "v"}), messaging.Message(topic="closed")]
    response = await messaging.send_each_async(batch, app=app)
    assert response.responses[0].success
    assert isinstance(response.responses[1].exception, exceptions.InvalidArgumentError)
    # the SDK sends a batch's messages concurrently: the fake records them in arrival order
    by_target = {m.target: m for m in fake.state.received()}
    assert sorted(by_target) == ["topic:closed", "topic:news"]
    assert by_target["topic:news"].message == {"topic": "news", "data": {"k": "v"}}


async def test_invalid_token_carries_fcms_registration_token_message(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    fake.state.script.set_for("badtok", Behaviour("invalid_token"))
    response = await messaging.send_each_async([message("badtok")], app=app)
    error = response.responses[0].exception
    assert isinstance(error, exceptions.InvalidArgumentError)
    assert "not a valid FCM registration token" in str(error)


async def test_refused_oauth_fails_the_whole_batch_with_unknown_error(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    with fake.state.lock:
        fake.state.refuse_oauth = True
    with pytest.raises(exceptions.UnknownError):
        await messaging.send_each_async([message("a"), message("b")], app=app)
    assert fake.state.stats().get("requests", 0) == 0


def test_send_without_or_with_an_unknown_bearer_token_is_401(fake: FakeHandle) -> None:
    body = {"message": {"token": "x"}}
    for headers in ({}, {"Authorization": "Bearer not-issued-by-the-fake"}):
        resp = requests.post(f"{fake.base_url}{SEND_PATH}", json=body, headers=headers, timeout=5)
        assert resp.status_code == 401
        assert resp.json()["error"]["status"] == "UNAUTHENTICATED"
    assert fake.state.stats()["unauthenticated"] >= 2


def test_a_send_without_a_target_is_400(fake: FakeHandle, service_account: Path) -> None:
    auth = {"Authorization": f"Bearer {access_token(fake, service_account)}"}
    for body in ({"message": {"notification": {"title": "t"}}}, {"nope": 1}):
        resp = requests.post(f"{fake.base_url}{SEND_PATH}", json=body, headers=auth, timeout=5)
        assert (resp.status_code, resp.json()["error"]["status"]) == (400, "INVALID_ARGUMENT")


def test_token_endpoint_wants_an_rs256_jwt_bearer_grant(fake: FakeHandle, service_account: Path) -> None:
    assert access_token(fake, service_account).startswith("fake-")
    hs256 = jwt.encode({"iss": "someone"}, "k" * 32, algorithm="HS256")
    for grant in (
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": hs256},
        {"grant_type": "client_credentials", "assertion": hs256},
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "not-a-jwt"},
    ):
        resp = requests.post(f"{fake.base_url}/token", data=grant, timeout=5)
        assert (resp.status_code, resp.json()["error"]) == (400, "invalid_grant")


def test_refused_oauth_answers_invalid_grant_until_undone(fake: FakeHandle, service_account: Path) -> None:
    requests.post(f"{fake.base_url}/_fake/oauth", json={"refuse": True}, timeout=5)
    with pytest.raises(requests.HTTPError) as refused:
        access_token(fake, service_account)
    assert refused.value.response.json()["error"] == "invalid_grant"
    requests.delete(f"{fake.base_url}/_fake/behaviours", timeout=5)
    assert access_token(fake, service_account)
