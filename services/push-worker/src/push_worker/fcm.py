"""The firebase-admin SDK (unmodified), set up once: credentials, endpoint, HTTP client.

Private SDK names are used only here and guarded by tests/test_fcm_setup.py, which fails loudly if
firebase-admin moves them (the version is pinned to 7.x in pyproject.toml):
- `messaging._get_messaging_service(app)` to reach the app's service instance;
- its `_fcm_url`, pointed at FCM_BASE_URL (the local fake; no emulator exists for FCM);
- its `_async_client`, and inside it the httpx client, in `sdk_http_client` only. The SDK offers
  no option for the HTTP client of `send_each_async`: it builds one with a 100-connection pool,
  HTTP/2 only over TLS, and retries 500/503 four times over ~7 s ignoring Retry-After (never
  429), which would hide FCM outages from the circuit breaker and hold batch slots. The worker
  keeps the SDK's client class and auth flow, and gives it an httpx transport (httpx's public
  API) sized to the requests it keeps in flight, without retries: the worker owns its retry
  policy (durable, with Retry-After).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import firebase_admin
import google.auth
import httpx
import structlog
from firebase_admin import _http_client, _retry, credentials, exceptions, messaging
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import Request
from notify_common.config import ConfigError

from push_worker.config import PushConfig

log = structlog.get_logger("push_worker.fcm")
SCOPES = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/firebase.messaging",
]


def load_credential(cfg: PushConfig) -> credentials.Base:
    """Credentials from FIREBASE_CREDENTIALS (file or inline JSON) or application-default.

    Raises ConfigError with one line when none can be found, so the service never starts
    without a way to send (it would only pile up pushes).
    """
    value = cfg.firebase_credentials.strip()
    if not value:
        if cfg.fcm_base_url:
            raise ConfigError(
                "FIREBASE_CREDENTIALS: required with FCM_BASE_URL (the fake's generated service-account file)"
            )
        try:
            google.auth.default(scopes=SCOPES)
        except auth_exceptions.DefaultCredentialsError:
            raise ConfigError(
                "FIREBASE_CREDENTIALS: not set and no application-default credentials found; set it to a "
                "service-account file or its JSON (or run `make run` for the local fake FCM)"
            ) from None
        return credentials.ApplicationDefault()
    try:
        if value.startswith("{"):
            return credentials.Certificate(json.loads(value))
        if not os.path.isfile(value):
            raise ConfigError(f"FIREBASE_CREDENTIALS: no such file {value!r}")
        return credentials.Certificate(value)
    except (ValueError, OSError) as exc:
        raise ConfigError(
            f"FIREBASE_CREDENTIALS: not a usable service account ({type(exc).__name__})"
        ) from None


def init_app(cfg: PushConfig, credential: credentials.Base) -> firebase_admin.App:
    """A firebase app of our own (unique name, so tests can run several), ready to send."""
    options: dict[str, Any] = {"httpTimeout": cfg.fcm_timeout_s}
    if cfg.firebase_project_id:
        options["projectId"] = cfg.firebase_project_id
    app = firebase_admin.initialize_app(credential, options, name=f"push-worker-{uuid.uuid4().hex[:8]}")
    service = messaging._get_messaging_service(app)
    if cfg.fcm_base_url:
        service._fcm_url = f"{cfg.fcm_base_url.rstrip('/')}/v1/projects/{service._project_id}/messages:send"
        log.warning("fcm_base_url_in_use", url=cfg.fcm_base_url, note="development/test only")
    service._async_client = sdk_http_client(service._credential, cfg)
    return app


def fcm_transport(cfg: PushConfig) -> httpx.AsyncHTTPTransport:
    """One pool for every FCM request of the process, as large as what is kept in flight.

    HTTP/2 multiplexes requests on FCM_CONNECTIONS connections; over plain http:// (the local
    fake) it needs prior knowledge, so HTTP/1.1 is turned off there. HTTP/1.1 carries one request
    per connection, so its pool has one per request in flight: none waits in httpcore's queue,
    whose scheduling cost grows with its length (bench/FINDINGS.md F6).
    """
    in_flight = cfg.fcm_requests_in_flight
    if cfg.fcm_http2:
        plain = cfg.fcm_base_url.startswith("http://")
        limits = httpx.Limits(
            max_connections=cfg.fcm_connections, max_keepalive_connections=cfg.fcm_connections
        )
        return httpx.AsyncHTTPTransport(http1=not plain, http2=True, limits=limits, retries=0)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    return httpx.AsyncHTTPTransport(http1=True, http2=False, limits=limits, retries=0)


def sdk_http_client(credential: Any, cfg: PushConfig) -> _http_client.HttpxAsyncClient:
    """The SDK's async HTTP client with our transport (the one place that reaches inside it).

    `HttpxAsyncClient` sends every request through its `_async_client` (an httpx.AsyncClient);
    it is rebuilt with the same headers and the SDK's own auth flow (OAuth token, refresh on 401).
    """
    client = _http_client.HttpxAsyncClient(
        credential=credential, timeout=cfg.fcm_timeout_s, retry_config=_retry.HttpxRetry(max_retries=0)
    )
    built_by_sdk: httpx.AsyncClient = client._async_client
    client._async_client = httpx.AsyncClient(
        timeout=cfg.fcm_timeout_s,
        headers=built_by_sdk.headers,
        auth=_http_client.GoogleAuthCredentialFlow(credential),
        transport=fcm_transport(cfg),
    )
    return client


async def close_app(app: firebase_admin.App) -> None:
    """Close the HTTP client and delete the app."""
    service = messaging._get_messaging_service(app)
    await service._async_client.aclose()
    # delete_app closes the async client again with asyncio.run, which needs a thread of its own.
    await asyncio.to_thread(firebase_admin.delete_app, app)


@dataclass
class Fcm:
    """Sends batches through the SDK; returns one exception (or None) per message."""

    app: firebase_admin.App

    async def send(self, batch: list[messaging.Message]) -> list[BaseException | None]:
        try:
            response = await messaging.send_each_async(batch, app=self.app)
        except ValueError:
            # The SDK validates every message before sending any; find the bad ones alone.
            if len(batch) == 1:
                raise
            return await self._send_alone(batch)
        except exceptions.FirebaseError as exc:  # e.g. the OAuth refresh failed for the batch
            return [exc] * len(batch)
        return [r.exception for r in response.responses]

    async def _send_alone(self, batch: list[messaging.Message]) -> list[BaseException | None]:
        async def one(message: messaging.Message) -> BaseException | None:
            try:
                return (await self.send([message]))[0]
            except ValueError as exc:
                return exc

        return list(await asyncio.gather(*(one(m) for m in batch)))

    def google_credential(self) -> Any:
        return self.app.credential.get_credential()

    async def refresh_token(self) -> dt.datetime | None:
        """Fetch an OAuth token off the event loop (google-auth blocks); returns its expiry."""
        credential = self.google_credential()
        await asyncio.to_thread(credential.refresh, Request())
        expiry: dt.datetime | None = credential.expiry
        return expiry
