"""Guards on the private firebase-admin names fcm.py relies on: fail loudly if an SDK update moves them."""

from __future__ import annotations

import inspect

import firebase_admin
import httpx
import redis.asyncio as redis_async
from firebase_admin import _http_client, _retry, messaging
from notify_common.devices import register_device
from notify_common.keys import Keys
from notify_common.schemas import PushJob
from push_testkit import TEST_ENV, FakeFcm, Worker, job_entry, notification, push_config


def test_sdk_major_version_is_the_one_these_guards_were_written_for() -> None:
    assert firebase_admin.__version__.split(".")[0] == "7"


def test_sdk_still_has_the_names_the_worker_sets() -> None:
    assert callable(messaging._get_messaging_service)
    assert "retry_config" in inspect.signature(_http_client.HttpxAsyncClient).parameters
    assert "max_retries" in inspect.signature(_retry.HttpxRetry).parameters
    client = _http_client.HttpxAsyncClient(retry_config=_retry.HttpxRetry(max_retries=0))
    assert isinstance(client._async_client, httpx.AsyncClient)  # the one attribute request() uses
    assert "auth_flow" in vars(_http_client.GoogleAuthCredentialFlow)


async def test_worker_app_sends_to_the_configured_base_url_without_sdk_retries(
    fcm: FakeFcm, worker: Worker
) -> None:
    service = messaging._get_messaging_service(worker.fcm.app)
    assert service._fcm_url.startswith(fcm.base_url)
    assert service._fcm_url.endswith("/messages:send")
    client = service._async_client._async_client
    assert isinstance(client._transport, httpx.AsyncHTTPTransport)  # no retrying SDK wrapper
    assert isinstance(client.auth, _http_client.GoogleAuthCredentialFlow)
    assert not client._mounts


async def _push_to_one_device(redis: redis_async.Redis, keys: Keys, worker: Worker) -> None:
    await register_device(redis, keys, "u1", "tok-1", "android")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))


async def test_worker_multiplexes_over_http2_by_default(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await _push_to_one_device(redis, keys, worker)
    assert fcm.tokens_received() == ["tok-1"]
    assert fcm.handle.state.stats().get("http2_requests") == 1


async def test_worker_speaks_http11_when_http2_is_off(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm
) -> None:
    env = {**TEST_ENV, "FCM_HTTP2": "false"}
    cfg = push_config(keys, FIREBASE_CREDENTIALS=str(fcm.service_account), FCM_BASE_URL=fcm.base_url, **env)
    worker = Worker(cfg, redis, keys)
    try:
        await _push_to_one_device(redis, keys, worker)
    finally:
        await worker.close()
    assert fcm.tokens_received() == ["tok-1"]
    assert "http2_requests" not in fcm.handle.state.stats()
