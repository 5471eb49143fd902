"""Run the fake in a thread with its own event loop (never in the loop of the code under test:
the SDK fetches OAuth tokens with blocking calls, which would deadlock against a same-loop fake)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from aiohttp import web

from fcm_fake.server import FakeState, build_app


@dataclass
class FakeHandle:
    """A running fake: its base URL, its state (script, received messages) and a stop()."""

    base_url: str
    state: FakeState
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _stopped: asyncio.Event

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)


async def serve(state: FakeState, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving the fake; returns the runner and the bound port."""
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None)
    return runner, int(sockets[0].getsockname()[1]) if sockets else port


def start_in_thread(host: str = "127.0.0.1", port: int = 0, keep_messages: int = 10_000) -> FakeHandle:
    """Start the fake on its own thread and loop; returns once it accepts connections."""
    state = FakeState(keep_messages=keep_messages)
    ready = threading.Event()
    box: dict[str, object] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        stopped = asyncio.Event()
        box["loop"], box["stopped"] = loop, stopped

        async def run() -> None:
            runner, bound = await serve(state, host, port)
            box["port"] = bound
            ready.set()
            await stopped.wait()
            await runner.cleanup()

        try:
            loop.run_until_complete(run())
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="fcm-fake", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("fcm-fake did not start")
    loop = box["loop"]
    stopped = box["stopped"]
    assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stopped, asyncio.Event)
    return FakeHandle(f"http://{host}:{box['port']}", state, loop, thread, stopped)
