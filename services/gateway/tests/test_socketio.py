"""The Socket.IO endpoint, driven by python-socketio's own client against a real node: the same
session as /ws (auth, catch-up, live, receipts, devices, presence) under the app's event names."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio
from devstack.polling import wait_until
from gwkit import RunningGateway, make_token
from test_catchup import publish

NS = "/notifications"


class Recorder:
    """A python-socketio client that records every event of the namespace, in order."""

    def __init__(self, ack: bool = True) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.ack = ack

        async def any_event(event: str, data: Any = None) -> Any:
            self.events.append((event, data))
            return "ok" if self.ack and event == "notification:new" else None

        self.client.on("*", any_event, namespace=NS)

    async def connect(self, gw: RunningGateway, auth: dict[str, Any]) -> None:
        await self.client.connect(
            f"http://127.0.0.1:{gw.port}", auth=auth, namespaces=[NS], transports=["websocket"]
        )

    def ids(self) -> list[str]:
        return [data["id"] for event, data in self.events if event == "notification:new"]

    async def wait_for(self, event: str, timeout: float = 10.0) -> Any:
        async def seen() -> bool:
            return any(e == event for e, _ in self.events)

        await wait_until(seen, timeout)
        return next(data for e, data in self.events if e == event)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    try:
        yield rec
    finally:
        await rec.client.disconnect()


async def receipts(gw: RunningGateway) -> list[tuple[str, str]]:
    found = [json.loads(f[b"receipt"]) for _, f in await gw.node.client.xrange(gw.keys.receipts)]
    return [(r["notification_id"], r["kind"]) for r in found]


async def test_connect_with_auth_token_says_hello_and_catchup_done(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    await recorder.connect(gateway, {"token": make_token("42")})
    assert (await recorder.wait_for("hello"))["user_id"] == "42"
    assert await recorder.wait_for("catchup.done") == {"type": "catchup.done", "count": 0, "gap": False}
    assert [e for e, _ in recorder.events][:2] == ["hello", "catchup.done"]
    assert "42" in gateway.node.sockets.by_user


async def test_bad_or_missing_token_is_refused_with_4401(gateway: RunningGateway) -> None:
    for auth in ({"token": "not-a-jwt"}, {}, {"token": make_token("42", ttl_s=-120)}):
        client = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        client.on("connect_error", errors.append, namespace=NS)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                f"http://127.0.0.1:{gateway.port}",
                auth=auth,
                namespaces=[NS],
                transports=["websocket"],
                wait_timeout=5,
            )
        await client.disconnect()
        assert errors and errors[0]["data"]["code"] == 4401, errors
    assert not gateway.node.sockets.by_user


async def test_live_notification_acknowledged_becomes_an_acked_receipt(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    await recorder.connect(gateway, {"token": make_token("42")})
    await recorder.wait_for("catchup.done")
    await gateway.deliver("n-live", user_ids=["42"], title="hi")
    note = await recorder.wait_for("notification:new")
    assert (note["id"], note["title"]) == ("n-live", "hi")

    async def acked() -> bool:
        return ("n-live", "acked") in await receipts(gateway)

    await wait_until(acked)
    assert ("n-live", "delivered") in await receipts(gateway)


async def test_notification_read_event_becomes_a_read_receipt_and_is_acknowledged(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    await recorder.connect(gateway, {"token": make_token("42")})
    await recorder.wait_for("catchup.done")
    answer = await recorder.client.call("notification:read", {"id": "n-1"}, namespace=NS, timeout=5)
    assert answer == {"type": "ok"}
    answer = await recorder.client.call("notification:read", ["n-2", "n-3"], namespace=NS, timeout=5)
    assert answer == {"type": "ok"}
    found = await receipts(gateway)
    assert [nid for nid, kind in found if kind == "read"] == ["n-1", "n-2", "n-3"]


async def test_catch_up_from_last_id_in_auth_then_live_in_order(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    for i in range(4):
        await publish(gateway, f"n-{i}", user_ids=["42"])
    await recorder.connect(gateway, {"token": make_token("42"), "last_id": "n-1"})
    marker = await recorder.wait_for("catchup.done")
    assert marker == {"type": "catchup.done", "count": 2, "gap": False}
    await publish(gateway, "n-4", user_ids=["42"])

    async def all_in() -> bool:
        return len(recorder.ids()) == 3

    await wait_until(all_in)
    assert recorder.ids() == ["n-2", "n-3", "n-4"]
    kinds = [e for e, _ in recorder.events if e != "hello"]
    assert kinds == ["notification:new", "notification:new", "catchup.done", "notification:new"]


async def test_fcm_register_stores_the_device_and_answers_in_the_ack(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    await recorder.connect(gateway, {"token": make_token("42")})
    await recorder.wait_for("catchup.done")
    answer = await recorder.client.call("fcm:register", {"token": "fcm-token-1"}, namespace=NS, timeout=5)
    assert answer == {"type": "device.registered", "token": "fcm-token-1"}
    stored = await gateway.node.client.hgetall(gateway.keys.devices("42"))
    assert json.loads(stored[b"fcm-token-1"])["platform"] == "web"
    refused = await recorder.client.call("fcm:register", {"token": "not a token!"}, namespace=NS, timeout=5)
    assert refused["type"] == "error" and refused["code"] == "bad_device"


async def test_native_frame_types_work_as_events_with_their_reply_as_ack(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    await recorder.connect(gateway, {"token": make_token("42", topics=["news"])})
    await recorder.wait_for("catchup.done")
    answer = await recorder.client.call("subscribe", {"topic": "news"}, namespace=NS, timeout=5)
    assert answer == {"type": "subscribed", "topic": "news"}
    await gateway.deliver("n-news", rooms=["topic:news"])
    assert (await recorder.wait_for("notification:new"))["id"] == "n-news"
    bad = await recorder.client.call("read", {"nope": 1}, namespace=NS, timeout=5)
    assert bad["type"] == "error" and bad["code"] == "bad_frame"


async def test_disconnect_removes_the_connection_and_its_presence(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    await recorder.connect(gateway, {"token": make_token("42")})
    await recorder.wait_for("catchup.done")
    await recorder.client.disconnect()

    async def gone() -> bool:
        return "42" not in gateway.node.sockets.by_user

    await wait_until(gone)


async def test_node_shutdown_tells_the_client_why_and_closes_its_transport(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    disconnected = asyncio.Event()
    recorder.client.on("disconnect", lambda *_: disconnected.set(), namespace=NS)
    await recorder.connect(gateway, {"token": make_token("42")})
    await recorder.wait_for("catchup.done")
    await gateway.close()
    closing = await recorder.wait_for("close")
    assert closing["code"] == 1001
    await asyncio.wait_for(disconnected.wait(), 10)


async def test_engineio_session_that_never_connects_to_the_namespace_is_closed(
    gateway_factory: Any,
) -> None:
    gw = await gateway_factory(auth_timeout_s=0.3)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"ws://127.0.0.1:{gw.port}/socket.io/?EIO=4&transport=websocket")
        opened = await ws.receive(timeout=5)
        assert opened.data.startswith("0{")
        packets = []
        while "1" not in packets:  # Engine.IO's CLOSE packet (pings may come first)
            packets.append((await ws.receive(timeout=5)).data)
        assert set(packets) <= {"1", "2"}, packets
        await ws.close()


async def test_token_expiring_event_is_answered_by_an_auth_event_with_a_fresh_token(
    gateway_factory: Any, recorder: Recorder
) -> None:
    gw = await gateway_factory(token_notice_s=3.5)
    # `exp` is whole seconds: 6 s leaves 5-6 s, over the notice, so the warning is armed
    # (a token with less left than the notice gets no warning, only the close at expiry)
    await recorder.connect(gw, {"token": make_token("42", ttl_s=6)})
    expiring = await recorder.wait_for("token.expiring")
    assert expiring["type"] == "token.expiring"
    answer = await recorder.client.call("auth", {"token": make_token("42")}, namespace=NS, timeout=5)
    assert answer["type"] == "auth.ok" and answer["expires_ms"] > expiring["expires_ms"]


async def test_repeated_rate_limit_sends_a_4429_close_event_and_ends_the_session(
    gateway_factory: Any, recorder: Recorder
) -> None:
    gw = await gateway_factory(rate_per_s=0.05, rate_burst=2, rate_strikes=3)
    disconnected = asyncio.Event()
    recorder.client.on("disconnect", lambda *_: disconnected.set(), namespace=NS)
    await recorder.connect(gw, {"token": make_token("42")})
    await recorder.wait_for("catchup.done")
    answers = [await recorder.client.call("ping", namespace=NS, timeout=5) for _ in range(3)]
    assert answers[:2] == [{"type": "pong"}] * 2 and answers[2]["code"] == "rate_limited"
    for _ in range(3):
        await recorder.client.emit("ping", namespace=NS)
    closing = await recorder.wait_for("close")
    assert closing["code"] == 4429
    await asyncio.wait_for(disconnected.wait(), 10)


async def test_transient_notification_is_sent_without_asking_for_an_ack(
    gateway: RunningGateway, recorder: Recorder
) -> None:
    await recorder.connect(gateway, {"token": make_token("42")})
    await recorder.wait_for("catchup.done")
    await gateway.deliver("typing-1", user_ids=["42"], transient=True)
    await gateway.deliver("n-after", user_ids=["42"])

    async def both() -> bool:
        return recorder.ids() == ["typing-1", "n-after"]

    await wait_until(both)

    async def acked() -> bool:
        return ("n-after", "acked") in await receipts(gateway)

    await wait_until(acked)
    assert [nid for nid, _ in await receipts(gateway)].count("typing-1") == 0
