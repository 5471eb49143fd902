"""Guards on the private firebase-admin names fcm.py relies on: fail loudly if an SDK update moves them."""

from __future__ import annotations

import inspect

import firebase_admin
from firebase_admin import _http_client, _retry, messaging
from push_testkit import FakeFcm, Worker


def test_sdk_major_version_is_the_one_these_guards_were_written_for() -> None:
    assert firebase_admin.__version__.split(".")[0] == "7"


def test_sdk_still_has_the_names_the_worker_sets() -> None:
    assert callable(messaging._get_messaging_service)
    assert "retry_config" in inspect.signature(_http_client.HttpxAsyncClient).parameters
    assert "max_retries" in inspect.signature(_retry.HttpxRetry).parameters


async def test_worker_app_sends_to_the_configured_base_url_without_sdk_retries(
    fcm: FakeFcm, worker: Worker
) -> None:
    service = messaging._get_messaging_service(worker.fcm.app)
    assert service._fcm_url.startswith(fcm.base_url)
    assert service._fcm_url.endswith("/messages:send")
    transport = service._async_client._mounts["http://"]
    assert transport._retry.retries_left == 0
