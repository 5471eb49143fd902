"""HTTP/2 (h2c, prior knowledge) for messages:send, on the same port as HTTP/1.1.

Real FCM multiplexes sends over HTTP/2, so a benchmark over HTTP/1.1 alone measures another
client path (httpcore's connection pool instead of one multiplexed connection). A connection
that opens with the HTTP/2 preface is served here with the `h2` state machine; any other
connection goes to the aiohttp app unchanged. Over HTTP/2 only `messages:send` is served: the
SDK fetches OAuth tokens with `requests` (HTTP/1.1), and the control API stays on HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError

from fcm_fake.errors import plain_error
from fcm_fake.server import Answer, FakeState, answer_send

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
NOT_HERE = json.dumps(
    plain_error(404, "NOT_FOUND", "Over HTTP/2 the fake serves only messages:send; use HTTP/1.1.")
).encode()


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection: requests are answered as their last frame arrives."""

    def __init__(self, state: FakeState, live: set[H2Protocol]) -> None:
        self.state = state
        self.live = live
        """Open HTTP/2 connections of the server, closed when it stops."""
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.requests: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.unsent: dict[int, bytes] = {}
        """Response bodies waiting for flow-control window, by stream."""
        self.delayed: set[asyncio.TimerHandle] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.live.add(self)
        self.conn.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in self.delayed:
            handle.cancel()
        self.delayed.clear()
        self.live.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except ProtocolError:
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self.requests[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
            elif isinstance(event, DataReceived):
                self.requests[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                self._answer(event.stream_id)
            elif isinstance(event, StreamReset):
                self.requests.pop(event.stream_id, None)
                self.unsent.pop(event.stream_id, None)
            elif isinstance(event, WindowUpdated):
                self._send_unsent()
            elif isinstance(event, ConnectionTerminated) and self.transport is not None:
                self.transport.close()
        self._flush()

    def _answer(self, stream_id: int) -> None:
        headers, body = self.requests.pop(stream_id)
        match = SEND_PATH.match(headers.get(":path", ""))
        if headers.get(":method") != "POST" or match is None:
            self._respond(stream_id, Answer(404, NOT_HERE))
            return
        self.state.count("http2_requests")
        answer = answer_send(self.state, headers.get("authorization", ""), bytes(body), match.group(1))
        if answer.delay_s:
            self._later(answer.delay_s, lambda: self._respond(stream_id, answer))
        else:
            self._respond(stream_id, answer)

    def _later(self, delay_s: float, then: Callable[[], None]) -> None:
        """Run `then` after `delay_s` unless the connection closes first (the handle is cancelled)."""

        def fire() -> None:
            self.delayed.discard(handle)
            then()
            self._flush()

        handle = asyncio.get_running_loop().call_later(delay_s, fire)
        self.delayed.add(handle)

    def _respond(self, stream_id: int, answer: Answer) -> None:
        if self.transport is None:
            return
        if answer.drop:  # this stream only: the other requests on the connection go on
            self.conn.reset_stream(stream_id, ErrorCodes.INTERNAL_ERROR)
            return
        headers = [
            (":status", str(answer.status)),
            ("content-type", "application/json"),
            ("content-length", str(len(answer.body))),
            *((name.lower(), value) for name, value in answer.headers.items()),
        ]
        self.conn.send_headers(stream_id, headers)
        self.unsent[stream_id] = answer.body
        self._send_unsent()

    def _send_unsent(self) -> None:
        """Send what the flow-control windows allow; the rest waits for a WINDOW_UPDATE."""
        for stream_id, body in list(self.unsent.items()):
            size = min(
                len(body), self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size
            )
            if size == 0 and body:
                continue
            self.conn.send_data(stream_id, body[:size], end_stream=size == len(body))
            if size == len(body):
                del self.unsent[stream_id]
            else:
                self.unsent[stream_id] = body[size:]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


class SniffingProtocol(asyncio.Protocol):
    """Reads a connection's first bytes, then hands it to HTTP/2 or to aiohttp (HTTP/1.1)."""

    def __init__(
        self, http1: Callable[[], asyncio.Protocol], state: FakeState, live: set[H2Protocol]
    ) -> None:
        self.http1 = http1
        self.state = state
        self.live = live
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < len(PREFACE) and PREFACE.startswith(self.buffer):
            return  # could still be HTTP/2: wait for the whole preface
        assert self.transport is not None
        chosen: asyncio.Protocol = (
            H2Protocol(self.state, self.live) if self.buffer.startswith(PREFACE) else self.http1()
        )
        self.transport.set_protocol(chosen)
        chosen.connection_made(self.transport)
        chosen.data_received(self.buffer)
        self.buffer = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
