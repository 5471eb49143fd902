"""start(): a built application served with its workers, closed in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from devstack.polling import wait_until
from notify_common.service import READINESS, WORKERS, start


def assembled(events: list[str]) -> web.Application:
    app = web.Application()

    async def resource(_: web.Application) -> AsyncIterator[None]:
        events.append("opened")
        yield
        events.append("closed")

    async def worker(stop: asyncio.Event) -> None:
        events.append("worker started")
        await stop.wait()
        events.append("worker stopped")

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hi")

    app.cleanup_ctx.append(resource)
    app.router.add_get("/", hello)
    app[WORKERS] = [worker]
    app[READINESS] = {}
    return app


async def test_workers_run_while_the_app_serves_and_stop_before_its_resources_close() -> None:
    events: list[str] = []
    running = await start(assembled(events), "127.0.0.1", 0, grace_s=5)
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{running.port}/") as resp:
        assert await resp.text() == "hi"
    await wait_until(lambda: "worker started" in events)
    assert await running.close() == 0
    assert events == ["opened", "worker started", "worker stopped", "closed"]


async def test_a_failing_worker_stops_the_service_with_status_1() -> None:
    events: list[str] = []
    app = assembled(events)

    async def broken(_: asyncio.Event) -> None:
        raise RuntimeError("boom")

    app[WORKERS].append(broken)
    running = await start(app, "127.0.0.1", 0, grace_s=5)
    assert await asyncio.wait_for(running.wait(), 5) == 1
    assert events[-2:] == ["worker stopped", "closed"]
