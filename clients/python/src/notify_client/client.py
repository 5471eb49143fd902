"""A session with the gateway that survives what the protocol can throw at it: node shutdowns,
killed nodes, expired tokens, rate limits. The app sees each notification once.

    client = NotifyClient("wss://host/ws", get_token=fetch_token, auto_ack=True)
    client.on("notification", show)
    await client.connect()
    ...
    await client.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp

from notify_client.backoff import (
    CLOSE_ABNORMAL,
    CLOSE_FORBIDDEN,
    CLOSE_NORMAL,
    CLOSE_RATE_LIMITED,
    CLOSE_UNAUTHORIZED,
    Backoff,
    plan_reconnect,
)
from notify_client.seen import SeenIds
from notify_client.tokens import GetToken, TokenSource

INBOX_READ_TYPE = "inbox.read"
READ_BATCH = 100
EVENTS = frozenset(
    {
        "state",
        "hello",
        "notification",
        "catchup",
        "gap",
        "read",
        "token_expiring",
        "location",
        "server_error",
        "disconnect",
    }
)
"""What `on()` accepts; the handler gets one argument (a dict, or the state's name)."""

Handler = Callable[[Any], Any]


class RequestError(Exception):
    """A subscribe, device or token request the server refused (its `error` frame) or left
    unanswered."""


class NotifyClient:
    """One user's session over the gateway's WebSocket protocol (docs/protocol.md section 4)."""

    def __init__(
        self,
        url: str | Iterable[str],
        *,
        token: str | None = None,
        get_token: GetToken | None = None,
        topics: Iterable[str] = (),
        last_id: str | None = None,
        auto_ack: bool = False,
        backoff: Backoff | None = None,
        request_timeout_s: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("give at least one gateway URL")
        self.tokens = TokenSource(token, get_token)
        self.topics = set(topics)
        self.last_id = last_id
        """The id to resume from: the last non-transient notification received. Keep it across runs."""
        self.auto_ack = auto_ack
        self.backoff = backoff or Backoff()
        self.request_timeout_s = request_timeout_s
        self.state = "idle"
        self.node: str | None = None
        """The gateway node serving the session (from its hello), None while disconnected."""
        self._session = session
        self._own_session = session is None
        self._handlers: dict[str, list[Handler]] = {}
        self._seen = SeenIds()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._outbox: list[dict[str, Any]] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._renewal: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._reconnect_now = asyncio.Event()
        self._attempt = 0
        self._rate_limited = 0
        self._url_index = 0

    # --- events ---------------------------------------------------------------------------
    def on(self, event: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` on `event` (see EVENTS); returns a function that removes it."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {sorted(EVENTS)}")
        self._handlers.setdefault(event, []).append(handler)
        return lambda: self._handlers[event].remove(handler)

    async def _emit(self, event: str, value: Any) -> None:
        for handler in list(self._handlers.get(event, ())):
            result = handler(value)
            if inspect.isawaitable(result):
                await result

    async def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            await self._emit("state", state)

    # --- lifecycle ------------------------------------------------------------------------
    async def connect(self) -> None:
        """Start the session; it reconnects by itself until `close()`."""
        if self._task is not None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="notify-client")

    async def close(self) -> None:
        """End the session for good (sign-out, app exit)."""
        self._stop.set()
        for task in (self._renewal, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._renewal = None
        if self._ws is not None:
            await self._ws.close()
        self._fail_pending("client closed")
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        self.node = None
        await self._set_state("closed")

    async def __aenter__(self) -> NotifyClient:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def reconnect(self) -> None:
        """Drop the current connection and open a new one at once (e.g. the network changed)."""
        self._reconnect_now.set()
        if self._ws is not None:
            await self._ws.close()

    def _renewal_cancel(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None

    # --- what the app sends ---------------------------------------------------------------
    async def ack(self, nid: str) -> None:
        """Tell the server the app received a notification (`acked` receipt). Queued while offline."""
        await self._send_or_queue({"type": "ack", "id": nid})

    async def read(self, ids: Iterable[str]) -> None:
        """Mark notifications read; the user's other devices get `read`. Queued while offline."""
        ids = list(ids)
        for start in range(0, len(ids), READ_BATCH):
            await self._send_or_queue({"type": "read", "ids": ids[start : start + READ_BATCH]})

    async def subscribe(self, topic: str) -> None:
        """Join a topic (kept across reconnects); RequestError if the token does not allow it."""
        await self._request(f"subscribed:{topic}", {"type": "subscribe", "topic": topic})
        self.topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)
        await self._request(f"unsubscribed:{topic}", {"type": "unsubscribe", "topic": topic})

    async def register_device(self, token: str, platform: str) -> None:
        """Register this device's push token over the socket (or use DevicesApi over HTTP)."""
        frame = {"type": "device.register", "token": token, "platform": platform}
        await self._request(f"device.registered:{token}", frame)

    async def unregister_device(self, token: str) -> None:
        await self._request(f"device.unregistered:{token}", {"type": "device.unregister", "token": token})

    async def set_token(self, token: str) -> None:
        """Hand over a fresh token (apps without get_token(), on `token_expiring`)."""
        self.tokens.set(token)
        await self._request("auth.ok", {"type": "auth", "token": token})

    # --- the session loop -------------------------------------------------------------------
    async def _run(self) -> None:
        fresh = False
        while not self._stop.is_set():
            self._reconnect_now.clear()
            code, reason = await self._session_once(fresh)
            self._ws = None
            self.node = None
            self._renewal_cancel()
            self._fail_pending(f"connection closed ({code})")
            if self._stop.is_set():
                return
            hopeless = not self._reconnect_now.is_set() and (
                code in (CLOSE_FORBIDDEN, CLOSE_NORMAL)
                or (code == CLOSE_UNAUTHORIZED and not self.tokens.renewable)
            )
            if hopeless:
                await self._set_state("closed")
                await self._emit("disconnect", {"code": code, "reason": reason, "retry_in_s": None})
                self._task = None
                return
            self._rate_limited = self._rate_limited + 1 if code == CLOSE_RATE_LIMITED else 0
            plan = plan_reconnect(
                code, reason, self._attempt, self.backoff, random.random, max(0, self._rate_limited - 1)
            )
            self._attempt += 1
            self._url_index += 1  # another node next: the one that failed may be gone
            delay = 0.0 if self._reconnect_now.is_set() else plan.delay_s
            fresh = plan.fresh_token
            await self._set_state("waiting")
            await self._emit("disconnect", {"code": code, "reason": reason, "retry_in_s": delay})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _session_once(self, fresh_token: bool) -> tuple[int, str]:
        """One connection from the handshake to its close; returns the close code and reason."""
        await self._set_state("connecting")
        try:
            token = await self.tokens.get(fresh_token)
        except Exception as exc:  # the app's callback failed: retried like a refused token
            return CLOSE_UNAUTHORIZED, f"no token: {exc!r}"
        assert self._session is not None
        url = self._url()
        try:
            ws = await self._session.ws_connect(url, headers={"Authorization": f"Bearer {token}"})
        except aiohttp.WSServerHandshakeError as exc:
            return (CLOSE_FORBIDDEN if exc.status == 403 else CLOSE_ABNORMAL), f"HTTP {exc.status}"
        except (aiohttp.ClientError, OSError) as exc:
            return CLOSE_ABNORMAL, repr(exc)
        self._ws = ws
        try:
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self._on_frame(json.loads(msg.data))
                elif msg.type == aiohttp.WSMsgType.CLOSE:
                    return int(msg.data), str(msg.extra or "")
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return ws.close_code or CLOSE_ABNORMAL, ""
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return CLOSE_ABNORMAL, repr(exc)
        finally:
            await ws.close()

    def _url(self) -> str:
        base = self.urls[self._url_index % len(self.urls)]
        parts = urlsplit(base)
        query = dict(q.split("=", 1) for q in parts.query.split("&") if "=" in q)
        if self.last_id:
            query["last_id"] = self.last_id
        if self.topics:
            query["topics"] = ",".join(sorted(self.topics))
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "hello":
            self._attempt = 0
            self.node = frame.get("node")
            await self._set_state("open")
            await self._flush_outbox()
            await self._emit("hello", frame)
        elif kind == "notification":
            await self._on_notification(frame.get("notification"))
        elif kind == "catchup.done":
            await self._emit("catchup", frame)
            if frame.get("gap"):
                await self._emit("gap", frame)
        elif kind == "token.expiring":
            await self._emit("token_expiring", frame)
            if self.tokens.renewable and self._renewal is None:
                self._renewal = asyncio.create_task(self._renew())
        elif kind == "auth.ok":
            self._settle("auth.ok", frame)
        elif kind in ("subscribed", "unsubscribed"):
            self._settle(f"{kind}:{frame.get('topic')}", frame)
        elif kind in ("device.registered", "device.unregistered"):
            self._settle(f"{kind}:{frame.get('token')}", frame)
        elif kind == "location":
            await self._emit("location", frame)
        elif kind == "error":
            await self._on_error(frame)

    async def _on_notification(self, n: Any) -> None:
        if not isinstance(n, dict) or not isinstance(n.get("id"), str) or not self._seen.first_time(n["id"]):
            return
        # Transient notifications are not in the catch-up feed: resuming from one would be a gap.
        if not n.get("transient"):
            self.last_id = n["id"]
        if n.get("type") == INBOX_READ_TYPE:
            await self._emit("read", n.get("data") or {})
            return
        if self.auto_ack and not n.get("transient"):
            await self.ack(n["id"])
        await self._emit("notification", n)

    async def _on_error(self, frame: dict[str, Any]) -> None:
        code = frame.get("code")
        error = RequestError(f"{code}: {frame.get('message')}")
        if code == "forbidden_topic" and frame.get("topic"):
            self._settle(f"subscribed:{frame['topic']}", error=error)
        elif code == "bad_token":
            self._settle("auth.ok", error=error)
        elif code == "bad_device":
            key = next((k for k in self._pending if k.startswith("device.")), None)
            if key is not None:
                self._settle(key, error=error)
        await self._emit("server_error", frame)

    async def _renew(self) -> None:
        """On token.expiring: a fresh token from get_token(), sent as an `auth` frame."""
        try:
            token = await self.tokens.get(fresh=True)
            await self._request("auth.ok", {"type": "auth", "token": token})
        except (RequestError, ValueError):
            pass  # the socket closes with 4401 at expiry, and that path asks for a token again
        finally:
            self._renewal = None

    # --- requests and the outbox -------------------------------------------------------------
    async def _request(self, key: str, frame: dict[str, Any]) -> dict[str, Any]:
        ws = self._ws
        if ws is None or self.state != "open" or ws.closed:
            raise RequestError("not connected")
        previous = self._pending.pop(key, None)
        if previous is not None and not previous.done():
            previous.set_exception(RequestError("superseded"))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        await ws.send_str(json.dumps(frame))
        try:
            return await asyncio.wait_for(future, self.request_timeout_s)
        except TimeoutError:
            raise RequestError(f"no answer to {key}") from None
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]

    def _settle(self, key: str, frame: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        future = self._pending.pop(key, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(frame or {})

    def _fail_pending(self, why: str) -> None:
        for key in list(self._pending):
            self._settle(key, error=RequestError(why))

    async def _send_or_queue(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None and self.state == "open" and not ws.closed:
            try:
                await ws.send_str(json.dumps(frame))
                return
            except (aiohttp.ClientError, ConnectionError):
                pass
        self._outbox.append(frame)

    async def _flush_outbox(self) -> None:
        ws = self._ws
        while self._outbox and ws is not None and not ws.closed:
            await ws.send_str(json.dumps(self._outbox[0]))
            self._outbox.pop(0)
