"""The Python SDK across a node shutdown: it moves to the other node (1001), resumes from its
last id, and the app sees every notification once."""

from __future__ import annotations

from devstack.polling import wait_until
from gwkit import GatewayFactory, make_token
from notify_client import Backoff, NotifyClient
from test_catchup import publish

FAST = Backoff(base_s=0.05, going_away_s=0.05, max_hint_s=0.2)


async def test_sdk_moves_to_the_other_node_on_shutdown_and_catches_up_once(
    gateway_factory: GatewayFactory,
) -> None:
    first = await gateway_factory("gw-a")
    second = await gateway_factory("gw-b")
    shown: list[str] = []
    nodes: list[str] = []
    codes: list[int] = []
    client = NotifyClient([first.url(), second.url()], token=make_token("42"), backoff=FAST)
    client.on("notification", lambda n: shown.append(n["id"]))
    client.on("hello", lambda hello: nodes.append(hello["node"]))
    client.on("disconnect", lambda d: codes.append(d["code"]))

    async def holds(want: list[str]) -> bool:
        return shown == want

    async with client:
        await publish(first, "n-1", user_ids=["42"])
        await wait_until(lambda: holds(["n-1"]))
        await first.close()
        await publish(second, "n-2", user_ids=["42"])
        await publish(second, "n-3", user_ids=["42"])
        await wait_until(lambda: holds(["n-1", "n-2", "n-3"]))
    assert nodes == ["gw-a", "gw-b"]
    assert codes == [1001]
    assert client.last_id == "n-3"
