"""Device token HTTP API: a signed-in user registers, lists and removes their push devices.

Every route needs `Authorization: Bearer <user JWT>` (the same tokens the gateway accepts); a
user only ever sees and changes their own devices. Contract: docs/protocol.md section 6.
"""

from __future__ import annotations

from typing import Any

import msgspec
import redis.asyncio as redis_async
from aiohttp import web
from notify_common.cors import enable_cors
from notify_common.devices import (
    Device,
    DeviceError,
    devices_of_user,
    register_device,
    unregister_device,
)
from notify_common.http_auth import PRINCIPAL, json_error, json_response, user_jwt
from notify_common.keys import Keys

from push_worker.config import PushConfig
from push_worker.openapi import openapi_document

MAX_BODY_BYTES = 16 * 1024
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})
CLIENT: web.AppKey[redis_async.Redis] = web.AppKey("client", redis_async.Redis)
KEYS: web.AppKey[Keys] = web.AppKey("keys", Keys)
CONFIG: web.AppKey[PushConfig] = web.AppKey("config", PushConfig)


class Registration(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    platform: str


def _device_json(device: Device) -> dict[str, Any]:
    return {"token": device.token, "platform": device.platform, "last_seen_ms": device.last_seen_ms}


async def list_devices(request: web.Request) -> web.Response:
    app = request.app
    user_id = request[PRINCIPAL].user_id
    found = await devices_of_user(app[CLIENT], app[KEYS], user_id, stale_ms=app[CONFIG].device_stale_ms)
    return json_response({"devices": [_device_json(d) for d in found]})


async def add_device(request: web.Request) -> web.Response:
    app = request.app
    cfg = app[CONFIG]
    try:
        body = msgspec.json.decode(await request.read(), type=Registration)
    except msgspec.DecodeError as exc:
        raise json_error(400, f"invalid body: {exc}") from None
    user_id = request[PRINCIPAL].user_id
    try:
        await register_device(
            app[CLIENT],
            app[KEYS],
            user_id,
            body.token,
            body.platform,
            stale_ms=cfg.device_stale_ms,
            max_devices=cfg.max_devices_per_user,
        )
    except DeviceError as exc:
        raise json_error(400, str(exc)) from None
    found = await devices_of_user(app[CLIENT], app[KEYS], user_id, stale_ms=cfg.device_stale_ms)
    device = next(d for d in found if d.token == body.token)
    return json_response(_device_json(device), status=201)


async def remove_device(request: web.Request) -> web.Response:
    app = request.app
    removed = await unregister_device(
        app[CLIENT], app[KEYS], request[PRINCIPAL].user_id, request.match_info["token"]
    )
    if not removed:
        raise json_error(404, "no such device for this user")
    return web.Response(status=204)


async def openapi(_: web.Request) -> web.Response:
    return json_response(openapi_document(Registration))


def api_app(client: redis_async.Redis, keys: Keys, cfg: PushConfig) -> web.Application:
    authenticate = user_jwt(cfg.jwt_settings(), cfg.jwks_cache(), PUBLIC_PATHS)
    app = web.Application(middlewares=[authenticate], client_max_size=MAX_BODY_BYTES)
    app[CLIENT] = client
    app[KEYS] = keys
    app[CONFIG] = cfg
    app.router.add_get("/v1/devices", list_devices)
    app.router.add_post("/v1/devices", add_device)
    app.router.add_delete("/v1/devices/{token}", remove_device)
    enable_cors(app, cfg.allowed_origins)
    app.router.add_get("/v1/openapi.json", openapi)
    return app
