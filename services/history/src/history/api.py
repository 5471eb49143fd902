"""The inbox HTTP API: a user's own notifications (JWT) and admin routes (service token)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as redis_async
import structlog
from aiohttp import web
from notify_common.clock import now_ms
from notify_common.cors import enable_cors
from notify_common.http_auth import json_error, json_response, require_token, require_user, timed_by_route
from notify_common.jwt_auth import JwksCache, JwtSettings, Principal
from notify_common.publish import publish
from notify_common.rooms import member_rooms
from notify_common.schemas import BadEntry

from history import admin, inbox, metrics
from history.db import Database, DatabaseUnavailable
from history.ingest import read_sync_event
from history.openapi import openapi_document
from history.records import AllReadResult, BadCursor, ReadResult, Stats, UnreadCount, decode_cursor

log = structlog.get_logger("history.api")

_TOPIC = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TOPICS = 32
DEFAULT_PAGE = 20


@dataclass(frozen=True, slots=True)
class ApiSettings:
    jwt: JwtSettings
    jwks: JwksCache | None
    admin_token: str
    page_max: int
    key_prefix: str
    stream_shards: int = 1
    allowed_origins: tuple[str, ...] = ()
    """Browser origins that may call the API cross-origin (CORS); empty = none."""


DB = web.AppKey("db", Database)
REDIS = web.AppKey("redis", redis_async.Redis)
SETTINGS = web.AppKey("settings", ApiSettings)


async def _user(request: web.Request) -> Principal:
    settings = request.app[SETTINGS]
    return await require_user(request, settings.jwt, settings.jwks)


def _require_admin(request: web.Request) -> None:
    expected = request.app[SETTINGS].admin_token
    if not expected:
        raise json_error(403, "admin API disabled: set ADMIN_TOKEN")
    require_token(request, [expected], "ADMIN_TOKEN")


def _rooms(request: web.Request, principal: Principal) -> list[str]:
    """`all`, the token's roles, the token's topics, and topics named in `topic` that the token
    allows (its `topics` claim lists them, or holds `*`)."""
    asked = request.query.getall("topic", [])
    if len(asked) > MAX_TOPICS or not all(_TOPIC.match(t) for t in asked):
        raise json_error(400, f"`topic`: up to {MAX_TOPICS} names of 1-64 characters A-Za-z0-9_.:-")
    granted = [t for t in principal.topics if t != "*"]
    refused = [t for t in asked if t not in granted and "*" not in principal.topics]
    if refused:
        raise json_error(403, f"your token does not allow topic {refused[0]!r}")
    return member_rooms(principal.roles, list(dict.fromkeys([*granted, *asked])))


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise json_error(400, f"`{name}`: true or false")
    return value in ("true", "1")


def _limit(request: web.Request) -> int:
    page_max = request.app[SETTINGS].page_max
    try:
        limit = int(request.query.get("limit", str(min(DEFAULT_PAGE, page_max))))
    except ValueError:
        limit = 0
    if not 1 <= limit <= page_max:
        raise json_error(400, f"`limit`: an integer from 1 to {page_max}")
    return limit


async def list_inbox(request: web.Request) -> web.Response:
    principal = await _user(request)
    try:
        cursor = decode_cursor(request.query["cursor"]) if "cursor" in request.query else None
    except BadCursor as exc:
        raise json_error(400, str(exc)) from None
    page = await inbox.list_inbox(
        request.app[DB],
        principal.user_id,
        _rooms(request, principal),
        limit=_limit(request),
        cursor=cursor,
        unread_only=_flag(request, "unread"),
        type_=request.query.get("type") or None,
    )
    return json_response(page)


async def unread_count(request: web.Request) -> web.Response:
    principal = await _user(request)
    count = await inbox.unread_count(request.app[DB], principal.user_id, _rooms(request, principal))
    return json_response(UnreadCount(unread=count))


async def _tell_devices(request: web.Request, user_id: str, data: dict[str, object]) -> None:
    """A transient `inbox.read` event: the router and gateways carry it to the user's other devices."""
    settings = request.app[SETTINGS]
    try:
        await publish(
            request.app[REDIS],
            read_sync_event(user_id, data),
            prefix=settings.key_prefix,
            shards=settings.stream_shards,
        )
    except BadEntry as exc:  # a user id outside the ingress alphabet: the read itself is stored
        log.warning("read_sync_not_sent", error=str(exc))
    except Exception as exc:  # Redis away: the read is stored; devices see it on their next fetch
        log.warning("read_sync_failed", error=repr(exc))


async def mark_read(request: web.Request) -> web.Response:
    principal = await _user(request)
    notification_id = request.match_info["id"]
    at_ms = now_ms()
    changed = await inbox.mark_read(
        request.app[DB], principal.user_id, _rooms(request, principal), notification_id, at_ms
    )
    if changed is None:
        raise json_error(404, "no such notification in your inbox")
    if changed:
        await _tell_devices(request, principal.user_id, {"ids": [notification_id], "read_ms": at_ms})
    return json_response(ReadResult(id=notification_id, changed=changed))


async def mark_all_read(request: web.Request) -> web.Response:
    principal = await _user(request)
    at_ms = now_ms()
    ids = await inbox.mark_all_read(request.app[DB], principal.user_id, at_ms)
    await _tell_devices(request, principal.user_id, {"all": True, "read_ms": at_ms})
    return json_response(AllReadResult(marked=len(ids), read_ms=at_ms))


async def notification_trail(request: web.Request) -> web.Response:
    _require_admin(request)
    found = await admin.trail(request.app[DB], request.match_info["id"])
    if found is None:
        raise json_error(404, "no such notification")
    return json_response(found)


def _date_ms(request: web.Request, name: str, default: dt.date) -> int:
    text = request.query.get(name)
    try:
        day = dt.date.fromisoformat(text) if text else default
    except ValueError:
        raise json_error(400, f"`{name}`: a date like 2026-01-31") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


async def stats(request: web.Request) -> web.Response:
    _require_admin(request)
    today = dt.datetime.now(dt.UTC).date()
    from_ms = _date_ms(request, "from", today - dt.timedelta(days=6))
    to_ms = _date_ms(request, "to", today) + admin.DAY_MS  # `to` is inclusive
    if to_ms <= from_ms or to_ms - from_ms > 366 * admin.DAY_MS:
        raise json_error(400, "`from` must be on or before `to`, at most 366 days apart")
    return json_response(Stats(days=await admin.stats(request.app[DB], from_ms, to_ms)))


async def openapi(_: web.Request) -> web.Response:
    return json_response(openapi_document())


@web.middleware
async def database_down_is_503(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except DatabaseUnavailable as exc:
        log.warning("database_unavailable", error=str(exc))
        return json_response({"error": "database unavailable, retry later"}, status=503)


ROUTES = [
    ("GET", "/v1/inbox", list_inbox),
    ("GET", "/v1/inbox/unread-count", unread_count),
    ("POST", "/v1/inbox/read-all", mark_all_read),
    ("POST", "/v1/inbox/{id}/read", mark_read),
    ("GET", "/v1/admin/notifications/{id}", notification_trail),
    ("GET", "/v1/admin/stats", stats),
    ("GET", "/openapi.json", openapi),
]


def api_app(db: Database | None, client: redis_async.Redis, settings: ApiSettings) -> web.Application:
    """The inbox API over `db`; None: the assembly (app.build) sets DB once it opened the database."""
    app = web.Application(middlewares=[timed_by_route(metrics.API_SECONDS), database_down_is_503])
    if db is not None:
        app[DB] = db
    app[REDIS] = client
    app[SETTINGS] = settings
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    enable_cors(app, settings.allowed_origins)
    return app
