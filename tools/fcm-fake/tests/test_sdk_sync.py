"""The SDK's blocking path (messaging.send, requests + urllib3) against the fake."""

from __future__ import annotations

import firebase_admin
import pytest
import requests
from fcm_fake.behaviours import Behaviour
from fcm_fake.runner import FakeHandle
from fcm_testkit import message
from firebase_admin import exceptions, messaging


def test_send_returns_the_fakes_message_name(fake: FakeHandle, sync_app: firebase_admin.App) -> None:
    name = messaging.send(message("one"), app=sync_app)
    assert name.startswith("projects/fake-project/messages/")
    assert [(m.target, m.validate_only, m.outcome) for m in fake.state.received()] == [("one", False, "ok")]


def test_send_dry_run_is_validate_only(fake: FakeHandle, sync_app: firebase_admin.App) -> None:
    messaging.send(message("dry"), dry_run=True, app=sync_app)
    assert [m.validate_only for m in fake.state.received()] == [True]
    assert fake.state.stats()["validate_only"] == 1


def test_send_raises_unregistered(fake: FakeHandle, sync_app: firebase_admin.App) -> None:
    fake.state.script.set_for("gone", Behaviour("unregistered"))
    with pytest.raises(messaging.UnregisteredError):
        messaging.send(message("gone"), app=sync_app)


def test_dropped_connection_is_unavailable_after_one_urllib3_retry(
    fake: FakeHandle, sync_app: firebase_admin.App
) -> None:
    # Unlike the async path (UnknownError, no retry): urllib3 retries a broken read once.
    fake.state.script.set_for("dropme", Behaviour("drop"))
    with pytest.raises(exceptions.UnavailableError) as raised:
        messaging.send(message("dropme"), app=sync_app)
    assert isinstance(raised.value.cause, requests.ConnectionError)
    assert fake.state.stats()["outcome:drop"] == 2
