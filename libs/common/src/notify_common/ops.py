"""The ops HTTP server every service runs: /healthz, /readyz and /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from notify_common.http_auth import require_token

ReadinessCheck = Callable[[], Awaitable[bool] | bool]


def ops_app(checks: Mapping[str, ReadinessCheck], metrics_token: str = "") -> web.Application:
    """/healthz: the process answers. /readyz: every check passes (503 names those failing).

    /metrics needs `Authorization: Bearer <METRICS_TOKEN>` when a token is configured.
    """

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        failing = []
        for name, check in checks.items():
            try:
                result = check()
                ok = await result if not isinstance(result, bool) else result
            except Exception:
                ok = False
            if not ok:
                failing.append(name)
        if failing:
            return web.json_response({"status": "not ready", "failing": failing}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics(request: web.Request) -> web.Response:
        if metrics_token:
            require_token(request, [metrics_token], "METRICS_TOKEN")
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_site(
    app: web.Application, host: str, port: int, backlog: int = 128
) -> tuple[web.AppRunner, int]:
    """Start serving `app`; returns the runner (for cleanup) and the bound port (port 0 = any).

    `backlog`: connections the kernel queues before they are accepted (capped by somaxconn)."""
    # No access log: one line per request (and per WebSocket) is volume without insight next to
    # the metrics; if one is turned on, notify_common.logging masks `?token=` and Bearer values.
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=backlog)
    await site.start()
    sockets = getattr(site._server, "sockets", None)
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    return runner, bound
