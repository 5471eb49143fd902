"""Run the fake in a thread with its own event loop (never in the loop of the code under test:
the SDK fetches OAuth tokens with blocking calls, which would deadlock against a same-loop fake)."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from fcm_fake.h2server import H2Protocol, SniffingProtocol
from fcm_fake.server import FakeState, build_app

DEFAULT_PORT = 9099
"""Where `python -m fcm_fake` listens unless told (`make run`, compose: docs/operations.md#ports)."""


class FakeHandle:
    """A running fake: its base URL, its state (script, received messages) and an idempotent stop().

    Also a context manager: `with start_in_thread() as fake: ...` stops it on exit.
    """

    def __init__(
        self,
        base_url: str,
        state: FakeState,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        stopped: asyncio.Event,
    ) -> None:
        self.base_url = base_url
        self.state = state
        self._loop = loop
        self._thread = thread
        self._stopped = stopped

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread; calling it again does nothing."""
        if self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stopped.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        self._thread.join(timeout)

    def __enter__(self) -> FakeHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Serving:
    """A listening fake: `port`, and `close()` to stop (connections included)."""

    def __init__(self, runner: web.AppRunner, server: asyncio.Server, h2: set[H2Protocol]) -> None:
        self.runner = runner
        self.server = server
        self.h2 = h2
        self.port = int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.server.close()
        for connection in list(self.h2):
            connection.close()
        await self.runner.cleanup()  # closes the HTTP/1.1 connections aiohttp tracks


async def serve(state: FakeState, host: str, port: int) -> Serving:
    """Start serving the fake (HTTP/1.1, and HTTP/2 with prior knowledge on the same port)."""
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    http1 = runner.server
    assert http1 is not None
    h2: set[H2Protocol] = set()
    try:
        server = await asyncio.get_running_loop().create_server(
            lambda: SniffingProtocol(http1, state, h2), host, port
        )
    except BaseException:
        await runner.cleanup()
        raise
    return Serving(runner, server, h2)


def start_in_thread(host: str = "127.0.0.1", port: int = 0, keep_messages: int = 10_000) -> FakeHandle:
    """Start the fake on its own thread and loop; returns once it accepts connections."""
    state = FakeState(keep_messages=keep_messages)
    loop = asyncio.new_event_loop()
    stopped = asyncio.Event()
    ready = threading.Event()
    bound: list[int] = []
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            serving = await serve(state, host, port)
        except BaseException as exc:  # e.g. the port is taken: handed to the caller below
            failure.append(exc)
            ready.set()
            return
        bound.append(serving.port)
        ready.set()
        try:
            await stopped.wait()
        finally:
            await serving.close()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(run())
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="fcm-fake", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("fcm-fake did not start within 10 s")
    if failure:
        thread.join(10)
        raise RuntimeError(f"fcm-fake could not listen on {host}:{port}") from failure[0]
    return FakeHandle(f"http://{host}:{bound[0]}", state, loop, thread, stopped)
