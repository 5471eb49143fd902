"""The router's HTTP API: publish events (service token) and manage preferences (user JWT).

Publishing validates with `decode_event`, exactly as the ingress consumer does, so an event
the API accepts is one the router routes, and a bad one is refused with the same reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
import redis.asyncio as redis_async
import structlog
from aiohttp import web
from notify_common.consumer import REDIS_DOWN_ERRORS
from notify_common.cors import enable_cors
from notify_common.http_auth import json_response, require_user, timed_by_route
from notify_common.jwt_auth import JwksCache, JwtSettings
from notify_common.keys import Keys
from notify_common.schemas import FIELD_EVENT, BadEntry, Event, decode_event, notification_id_of
from notify_common.shards import event_shard_key

from router import metrics
from router.http_auth import require_service
from router.openapi import openapi_document
from router.preferences import Preferences, read_preferences, write_preferences

log = structlog.get_logger("router.http_api")


@dataclass(frozen=True, slots=True)
class ApiSettings:
    service_tokens: tuple[str, ...]
    jwt: JwtSettings
    jwks: JwksCache | None
    batch_max: int
    max_body_bytes: int
    allowed_origins: tuple[str, ...] = ()
    """Browser origins that may call the API cross-origin (CORS, the preferences routes); empty = none."""


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


CLIENT: web.AppKey[redis_async.Redis] = web.AppKey("client", redis_async.Redis)
KEYS: web.AppKey[Keys] = web.AppKey("keys", Keys)
SETTINGS: web.AppKey[ApiSettings] = web.AppKey("settings", ApiSettings)

_batch_decoder = msgspec.json.Decoder(BatchRequest)
_prefs_decoder = msgspec.json.Decoder(Preferences)


def _bad_request(reason: str, **extra: object) -> web.Response:
    metrics.HTTP_REJECTED.labels(reason="invalid").inc()
    return json_response({"error": reason, **extra}, status=400)


def _published_id(event: Event, entry_id: str) -> dict[str, str]:
    return {"id": notification_id_of(event.id, entry_id), "entry_id": entry_id}


def _text(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


async def publish_one(request: web.Request) -> web.Response:
    require_service(request, request.app[SETTINGS].service_tokens)
    raw = await request.read()
    try:
        event = decode_event({FIELD_EVENT: raw})
    except BadEntry as exc:
        return _bad_request(str(exc))
    stream = request.app[KEYS].ingress_for(event_shard_key(event))
    entry_id = _text(await request.app[CLIENT].xadd(stream, {FIELD_EVENT: raw}))
    metrics.HTTP_PUBLISHED.inc()
    return json_response(_published_id(event, entry_id), status=202)


async def publish_batch(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    require_service(request, settings.service_tokens)
    try:
        batch = _batch_decoder.decode(await request.read())
    except msgspec.DecodeError as exc:
        return _bad_request(f"invalid batch: {exc}")
    if not 1 <= len(batch.events) <= settings.batch_max:
        return _bad_request(f"invalid batch: give 1 to {settings.batch_max} events, got {len(batch.events)}")
    events: list[tuple[Event, bytes]] = []
    errors: list[dict[str, object]] = []
    for index, raw_event in enumerate(batch.events):
        raw = bytes(raw_event)
        try:
            events.append((decode_event({FIELD_EVENT: raw}), raw))
        except BadEntry as exc:
            errors.append({"index": index, "error": str(exc)})
    if errors:
        reason = f"{len(errors)} of {len(batch.events)} events are invalid; nothing was published"
        return _bad_request(reason, errors=errors)
    # MULTI/EXEC per ingress shard (a transaction stays in one cluster slot): with one shard the
    # batch is appended whole or not at all; with several, whole or not at all per shard
    by_stream: dict[str, list[int]] = {}
    for index, (event, _) in enumerate(events):
        by_stream.setdefault(request.app[KEYS].ingress_for(event_shard_key(event)), []).append(index)
    entry_ids = [""] * len(events)
    for stream, indexes in by_stream.items():
        pipe = request.app[CLIENT].pipeline(transaction=True)
        for index in indexes:
            pipe.xadd(stream, {FIELD_EVENT: events[index][1]})
        for index, entry_id in zip(indexes, await pipe.execute(), strict=True):
            entry_ids[index] = _text(entry_id)
    metrics.HTTP_PUBLISHED.inc(len(events))
    results = [_published_id(event, entry_id) for (event, _), entry_id in zip(events, entry_ids, strict=True)]
    return json_response({"results": results}, status=202)


async def get_preferences(request: web.Request) -> web.Response:
    principal = await require_user(request, request.app[SETTINGS].jwt, request.app[SETTINGS].jwks)
    prefs = await read_preferences(request.app[CLIENT], request.app[KEYS], principal.user_id)
    return json_response(prefs)


async def put_preferences(request: web.Request) -> web.Response:
    principal = await require_user(request, request.app[SETTINGS].jwt, request.app[SETTINGS].jwks)
    try:
        prefs = _prefs_decoder.decode(await request.read())
    except msgspec.DecodeError as exc:
        return _bad_request(f"invalid preferences: {exc}")
    await write_preferences(request.app[CLIENT], request.app[KEYS], principal.user_id, prefs)
    return json_response(await read_preferences(request.app[CLIENT], request.app[KEYS], principal.user_id))


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def never_500(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Redis trouble is a 503 the caller can retry; an unexpected error is logged, also 503."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except REDIS_DOWN_ERRORS as exc:
        log.warning("http_redis_unavailable", path=request.path, error=repr(exc))
        metrics.HTTP_REJECTED.labels(reason="redis_unavailable").inc()
        return json_response({"error": "storage unavailable, retry later"}, status=503)
    except Exception:
        log.exception("http_failed", path=request.path)
        metrics.HTTP_REJECTED.labels(reason="internal").inc()
        return json_response({"error": "temporarily unavailable, retry later"}, status=503)


def api_app(client: redis_async.Redis, keys: Keys, settings: ApiSettings) -> web.Application:
    """The aiohttp application of the router's HTTP API."""
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[timed_by_route(metrics.HTTP_SECONDS), never_500]
    )
    app[CLIENT] = client
    app[KEYS] = keys
    app[SETTINGS] = settings
    app.router.add_post("/v1/events", publish_one)
    app.router.add_post("/v1/events/batch", publish_batch)
    app.router.add_get("/v1/preferences", get_preferences)
    app.router.add_put("/v1/preferences", put_preferences)
    app.router.add_get("/v1/openapi.json", openapi)
    enable_cors(app, settings.allowed_origins)
    return app
