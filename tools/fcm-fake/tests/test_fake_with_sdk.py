"""The unmodified firebase-admin SDK talking to the fake: successes and every scripted error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import firebase_admin
import jwt
import pytest
import requests
from fcm_fake.behaviours import Behaviour
from fcm_fake.credentials import write_service_account
from fcm_fake.runner import FakeHandle, start_in_thread
from fcm_fake.sdk import point_sdk_at
from firebase_admin import credentials, exceptions, messaging


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeHandle]:
    handle = start_in_thread()
    point_sdk_at(handle.base_url)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
async def app(fake: FakeHandle, tmp_path: Path) -> AsyncIterator[firebase_admin.App]:
    fake.state.script.reset()
    fake.state.clear()
    account = write_service_account(tmp_path / "sa.json", fake.base_url)
    app = firebase_admin.initialize_app(credentials.Certificate(str(account)), name=uuid.uuid4().hex)
    try:
        yield app
    finally:
        # The SDK's async HTTP client is bound to this loop: close it here, then let delete_app
        # (which calls asyncio.run) run in a thread of its own.
        await messaging._get_messaging_service(app)._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, app)


def message(token: str) -> messaging.Message:
    return messaging.Message(fid=token, notification=messaging.Notification(title="t", body="b"))


async def test_a_batch_is_accepted_and_recorded(fake: FakeHandle, app: firebase_admin.App) -> None:
    batch = [message(f"tok-{i}") for i in range(50)]
    response = await messaging.send_each_async(batch, app=app)
    assert response.success_count == 50
    assert all(r.message_id.startswith("projects/fake-project/messages/") for r in response.responses)
    received = fake.state.received()
    assert sorted(m.target for m in received) == sorted(f"tok-{i}" for i in range(50))
    assert received[0].message["notification"] == {"title": "t", "body": "b"}


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
    if kind == "quota":
        assert bad.exception.http_response.headers["Retry-After"] == "7"


async def test_server_errors_after_the_sdk_retries_are_unavailable_and_internal(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    # The SDK's async path retries 500/503 itself; "times" makes the first tries fail only.
    fake.state.script.set_for("u503", Behaviour("unavailable", times=1))
    response = await messaging.send_each_async([message("u503")], app=app)
    assert response.success_count == 1  # the SDK's own retry got through
    fake.state.script.set_for("always503", Behaviour("unavailable", retry_after_s=0))
    fake.state.script.set_for("always500", Behaviour("internal"))
    response = await messaging.send_each_async([message("always503"), message("always500")], app=app)
    assert isinstance(response.responses[0].exception, exceptions.UnavailableError)
    assert isinstance(response.responses[1].exception, exceptions.InternalError)


async def test_prefix_rules_script_tokens_by_name(fake: FakeHandle, app: firebase_admin.App) -> None:
    response = await messaging.send_each_async([message("unreg-1"), message("ok-1")], app=app)
    assert isinstance(response.responses[0].exception, messaging.UnregisteredError)
    assert response.responses[1].success


async def test_dropped_connection_is_an_error_not_a_success(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    fake.state.script.set_for("dropme", Behaviour("drop"))
    response = await messaging.send_each_async([message("dropme")], app=app)
    assert not response.responses[0].success
    assert isinstance(response.responses[0].exception, exceptions.FirebaseError)


def test_send_without_bearer_token_is_401(fake: FakeHandle) -> None:
    resp = requests.post(
        f"{fake.base_url}/v1/projects/p/messages:send", json={"message": {"token": "x"}}, timeout=5
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_control_api_scripts_behaviours_and_reads_messages(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    fake.state.clear()
    resp = requests.post(
        f"{fake.base_url}/_fake/behaviours", json={"tokens": {"ctl": {"kind": "unregistered"}}}, timeout=5
    )
    assert resp.status_code == 200
    response = await messaging.send_each_async([message("ctl")], app=app)
    assert isinstance(response.responses[0].exception, messaging.UnregisteredError)
    received = requests.get(f"{fake.base_url}/_fake/messages", timeout=5).json()
    assert [(m["target"], m["outcome"]) for m in received] == [("ctl", "unregistered")]
    assert requests.get(f"{fake.base_url}/_fake/stats", timeout=5).json()["outcome:unregistered"] == 1
    bad = requests.post(f"{fake.base_url}/_fake/behaviours", json={"default": {"kind": "explode"}}, timeout=5)
    assert bad.status_code == 400


async def test_invalid_token_carries_fcms_registration_token_message(
    fake: FakeHandle, app: firebase_admin.App
) -> None:
    fake.state.script.set_for("badtok", Behaviour("invalid_token"))
    response = await messaging.send_each_async([message("badtok")], app=app)
    error = response.responses[0].exception
    assert isinstance(error, exceptions.InvalidArgumentError)
    assert "not a valid FCM registration token" in str(error)


def test_refused_oauth_answers_invalid_grant_until_undone(fake: FakeHandle) -> None:
    assertion = jwt.encode({"iss": "fake@fake-project.iam.gserviceaccount.com"}, "k" * 32, algorithm="HS256")
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    requests.post(f"{fake.base_url}/_fake/oauth", json={"refuse": True}, timeout=5)
    refused = requests.post(f"{fake.base_url}/token", data=grant, timeout=5)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    requests.delete(f"{fake.base_url}/_fake/behaviours", timeout=5)
    assert requests.post(f"{fake.base_url}/token", data=grant, timeout=5).status_code == 200
