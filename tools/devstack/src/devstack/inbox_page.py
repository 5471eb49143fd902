"""The development inbox page: a browser app on the JS SDK, served by `make run` (never in production).

Serves the page, the compiled SDK (clients/js/dist) and three development-only helpers the
services never offer: a token for any demo user (signed with the development secret), a test
publish for the signed-in user, and the user's presence read from Redis. It listens on loopback
only.

`python -m devstack.inbox_page --port 8070 --gateway ws://… --inbox http://… --devices http://…
--router http://…` (REDIS_URL, KEY_PREFIX, JWT_SECRET from the environment).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import jwt
import msgspec
import redis.asyncio as redis_async
from aiohttp import web
from notify_common.keys import Keys
from notify_common.presence import user_presence
from notify_common.redis_conn import connect

from devstack.fleet import DEV_JWT_SECRET, DEV_SERVICE_TOKEN, dev_token

PAGE_DIR = Path(__file__).parent / "inbox"
SDK_DIR = Path(__file__).resolve().parents[4] / "clients" / "js" / "dist"
TOKEN_TTL_S = 600
"""Short on purpose: the page shows the SDK refreshing its token (token.expiring) as it runs."""


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    user: str
    roles: list[str] = []


class PublishRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    body: str = ""


class PageSettings(msgspec.Struct, frozen=True):
    gateways: list[str]
    inbox: str
    devices: str
    router: str


SETTINGS = web.AppKey("settings", PageSettings)
REDIS = web.AppKey("redis", redis_async.Redis)
KEYS = web.AppKey("keys", Keys)
SECRET = web.AppKey("secret", str)
HTTP = web.AppKey("http", aiohttp.ClientSession)


def _user_of(request: web.Request) -> str:
    """The `sub` of the page's own development token (Authorization: Bearer …)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        claims = (
            jwt.decode(token, request.app[SECRET], algorithms=["HS256"]) if scheme.lower() == "bearer" else {}
        )
    except jwt.PyJWTError as exc:
        raise web.HTTPUnauthorized(text=f"invalid token: {exc}") from None
    if "sub" not in claims:
        raise web.HTTPUnauthorized(text="Authorization: Bearer <token from /dev/token> required")
    return str(claims["sub"])


async def config(request: web.Request) -> web.Response:
    return web.json_response(msgspec.to_builtins(request.app[SETTINGS]))


async def token(request: web.Request) -> web.Response:
    try:
        body = msgspec.json.decode(await request.read(), type=TokenRequest)
    except msgspec.ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    minted = dev_token(body.user, body.roles, ttl_s=TOKEN_TTL_S, secret=request.app[SECRET], topics=["*"])
    return web.json_response({"token": minted, "ttl_s": TOKEN_TTL_S})


async def publish(request: web.Request) -> web.Response:
    user = _user_of(request)
    try:
        body = msgspec.json.decode(await request.read(), type=PublishRequest)
    except msgspec.ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    event = {"type": "demo.message", "audience": {"kind": "users", "ids": [user]}, "title": body.title}
    if body.body:
        event["body"] = body.body
    async with request.app[HTTP].post(
        request.app[SETTINGS].router + "/v1/events",
        json=event,
        headers={"Authorization": f"Bearer {DEV_SERVICE_TOKEN}"},
    ) as resp:
        return web.json_response(await resp.json(), status=resp.status)


async def presence(request: web.Request) -> web.Response:
    nodes = await user_presence(request.app[REDIS], request.app[KEYS], _user_of(request))
    return web.json_response({"nodes": nodes})


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE_DIR / "index.html")


def page_app(settings: PageSettings, client: redis_async.Redis, keys: Keys, secret: str) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[REDIS] = client
    app[KEYS] = keys
    app[SECRET] = secret

    async def http_session(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession() as session:
            app[HTTP] = session
            yield

    app.cleanup_ctx.append(http_session)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/config.json", config)
    app.router.add_post("/dev/token", token)
    app.router.add_post("/dev/publish", publish)
    app.router.add_get("/dev/presence", presence)
    app.router.add_static("/static/", PAGE_DIR)
    app.router.add_static("/sdk/", SDK_DIR)
    return app


async def serve(port: int, settings: PageSettings) -> None:
    client = connect(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    keys = Keys(os.environ.get("KEY_PREFIX", "nf"))
    app = page_app(settings, client, keys, os.environ.get("JWT_SECRET") or DEV_JWT_SECRET)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        # Loopback only: the page mints tokens for any user.
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.inbox_page", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gateway", action="append", required=True, help="WebSocket URL of a node")
    parser.add_argument("--inbox", required=True, help="history's base URL")
    parser.add_argument("--devices", required=True, help="push-worker's device API base URL")
    parser.add_argument("--router", required=True, help="router's base URL (test publishes)")
    args = parser.parse_args(argv)
    if not (SDK_DIR / "index.js").exists():
        print(f"no compiled SDK in {SDK_DIR}: run `npm ci && npm run build` in clients/js", file=sys.stderr)
        return 2
    settings = PageSettings(gateways=args.gateway, inbox=args.inbox, devices=args.devices, router=args.router)
    asyncio.run(serve(args.port, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
