"""The fake's HTTP app: OAuth token endpoint, FCM messages:send, and a control API for tests."""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import jwt
from aiohttp import web

from fcm_fake.behaviours import KINDS, Behaviour, Script
from fcm_fake.errors import error_body, plain_error

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Received:
    """One messages:send request as the fake saw it."""

    target: str
    message: dict[str, Any]
    validate_only: bool
    outcome: str
    at: float


@dataclass
class FakeState:
    """Everything the fake remembers: the last `keep_messages` requests (a ring buffer, so a
    benchmark of millions does not grow memory) and counters that are never trimmed."""

    script: Script = field(default_factory=Script)
    keep_messages: int = 10_000
    messages: collections.deque[Received] = field(init=False)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    access_tokens: set[str] = field(default_factory=set)
    refuse_oauth: bool = False
    """Answer every token request with invalid_grant, as Google does for a revoked key."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.messages = collections.deque(maxlen=max(self.keep_messages, 0))

    def record(self, item: Received) -> None:
        with self.lock:
            self.messages.append(item)
            self.counts["requests"] += 1
            if item.validate_only:
                self.counts["validate_only"] += 1
            self.counts[f"outcome:{item.outcome}"] += 1

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1

    def received(self) -> list[Received]:
        """The kept requests, oldest first."""
        with self.lock:
            return list(self.messages)

    def clear(self) -> None:
        """Forget received messages and every counter (the script stays)."""
        with self.lock:
            self.messages.clear()
            self.counts.clear()

    def stats(self) -> dict[str, int]:
        """requests, outcome:<kind>, validate_only, oauth_tokens, unauthenticated."""
        with self.lock:
            return dict(self.counts)


def target_of(message: dict[str, Any]) -> str | None:
    """The device (FID or legacy token), topic (`topic:<name>`) or condition of a message."""
    if "fid" in message:  # firebase-admin 7.7 sends Message.fid; Message.token is deprecated
        return str(message["fid"])
    if "token" in message:
        return str(message["token"])
    if "topic" in message:
        return f"topic:{message['topic']}"
    if "condition" in message:
        return f"condition:{message['condition']}"
    return None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the fake answers to one messages:send request, whichever HTTP version carried it."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    """Answer nothing: break the connection (HTTP/1.1) or reset the stream (HTTP/2)."""


def _json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(body).encode(), headers or {})


def answer_send(state: FakeState, authorization: str, body: bytes, project: str) -> Answer:
    """Check the bearer token, parse the message, record it and decide the scripted answer."""
    bearer = authorization.removeprefix("Bearer ").strip()
    with state.lock:
        known = bearer in state.access_tokens
    if not known:
        state.count("unauthenticated")
        return _json_answer(
            401, plain_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        )
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    message = payload.get("message") if isinstance(payload, dict) else None
    target = target_of(message) if isinstance(message, dict) else None
    if not isinstance(payload, dict) or not isinstance(message, dict) or target is None:
        state.count("invalid_requests")
        text = "Invalid payload: a message with exactly one of token, topic or condition is required."
        return _json_answer(400, plain_error(400, "INVALID_ARGUMENT", text))
    behaviour = state.script.decide(target)
    state.record(Received(target, message, bool(payload.get("validate_only")), behaviour.kind, time.time()))
    delay_s = behaviour.delay_ms / 1000
    if behaviour.kind == "drop":
        return Answer(0, b"", delay_s=delay_s, drop=True)
    if behaviour.kind in ("ok", "slow"):
        name = f"projects/{project}/messages/{secrets.token_hex(8)}"
        return Answer(200, b'{"name": "%s"}' % name.encode(), delay_s=delay_s)
    status, error = error_body(behaviour.kind, f"scripted {behaviour.kind} for {target}")
    headers: dict[str, str] = {}
    if behaviour.kind == "quota" or (behaviour.kind == "unavailable" and behaviour.retry_after_s > 0):
        headers["Retry-After"] = str(behaviour.retry_after_s)
    answer = _json_answer(status, error, headers)
    return Answer(answer.status, answer.body, answer.headers, delay_s=delay_s)


def build_app(state: FakeState) -> web.Application:
    """The aiohttp application serving one FakeState."""

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        assertion = str(form.get("assertion", ""))
        if form.get("grant_type") != JWT_BEARER or not assertion:
            return web.json_response({"error": "invalid_grant"}, status=400)
        try:  # the SDK signs with the generated key; the fake checks the shape, not the signature
            if jwt.get_unverified_header(assertion).get("alg") != "RS256":
                raise jwt.InvalidTokenError("not RS256")
            jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "bad assertion"}, status=400
            )
        with state.lock:
            refuse = state.refuse_oauth
        if refuse:
            body = {"error": "invalid_grant", "error_description": "scripted: invalid JWT signature"}
            return web.json_response(body, status=400)
        access = "fake-" + secrets.token_urlsafe(16)
        with state.lock:
            state.access_tokens.add(access)
            state.counts["oauth_tokens"] += 1
        return web.json_response({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    async def send(request: web.Request) -> web.StreamResponse:
        answer = answer_send(
            state,
            request.headers.get("Authorization", ""),
            await request.read(),
            request.match_info["project"],
        )
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.drop:
            assert request.transport is not None
            request.transport.abort()  # no status line at all: the client sees a broken connection
            # Ends the handler; aiohttp sees a closed connection and writes and logs nothing.
            raise asyncio.CancelledError
        return web.Response(
            body=answer.body, status=answer.status, headers=answer.headers, content_type="application/json"
        )

    async def set_behaviours(request: web.Request) -> web.Response:
        """{"default": {...}, "tokens": {"<token>": {...}}, "prefixes": {"<prefix>": {...}}}"""
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON object")
            # Parse everything before changing anything: a bad entry leaves the script as it was.
            default = _behaviour(spec["default"]) if "default" in spec else None
            tokens = {str(t): _behaviour(b) for t, b in spec.get("tokens", {}).items()}
            prefixes = {str(p): _behaviour(b) for p, b in spec.get("prefixes", {}).items()}
        except (TypeError, ValueError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if default is not None:
            state.script.set_default(default)
        for target, b in tokens.items():
            state.script.set_for(target, b)
        for prefix, b in prefixes.items():
            state.script.set_prefix(prefix, b)
        return web.json_response({"ok": True})

    async def reset_behaviours(_: web.Request) -> web.Response:
        state.script.reset()
        with state.lock:
            state.refuse_oauth = False
        return web.json_response({"ok": True})

    async def set_oauth(request: web.Request) -> web.Response:
        """{"refuse": true}: the token endpoint refuses every grant until set back."""
        spec = await request.json()
        with state.lock:
            state.refuse_oauth = bool(spec.get("refuse"))
        return web.json_response({"ok": True})

    async def list_messages(_: web.Request) -> web.Response:
        return web.json_response([asdict(m) for m in state.received()])

    async def clear_messages(_: web.Request) -> web.Response:
        state.clear()
        return web.json_response({"ok": True})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(state.stats())

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/token", token)
    app.router.add_post("/v1/projects/{project}/messages:send", send)
    app.router.add_post("/_fake/behaviours", set_behaviours)
    app.router.add_delete("/_fake/behaviours", reset_behaviours)
    app.router.add_post("/_fake/oauth", set_oauth)
    app.router.add_get("/_fake/messages", list_messages)
    app.router.add_delete("/_fake/messages", clear_messages)
    app.router.add_get("/_fake/stats", stats)
    app.router.add_get("/healthz", healthz)
    return app


def _behaviour(spec: Any) -> Behaviour:
    if not isinstance(spec, dict):
        raise ValueError(f'a behaviour is an object like {{"kind": "ok"}}, not {spec!r}')
    kind = spec.get("kind", "ok")
    if kind not in KINDS:
        raise ValueError(f"unknown behaviour {kind!r}; one of {', '.join(KINDS)}")
    return Behaviour(
        kind=kind,
        times=int(spec.get("times", 0)),
        delay_ms=int(spec.get("delay_ms", 0)),
        retry_after_s=int(spec.get("retry_after_s", 1)),
    )
