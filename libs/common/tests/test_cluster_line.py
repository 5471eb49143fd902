"""RedisLine on a Redis Cluster: commands routed per master by the line itself."""

from __future__ import annotations

import pytest
from devstack.polling import wait_until
from devstack.redis_topologies import ClusterNodeServer, RedisClusterGroup, slot_ranges
from notify_common.cluster_line import slot_of
from notify_common.redis_conn import connect
from notify_common.redis_line import RedisLine
from redis.crc import key_slot
from redis.exceptions import MovedError


def test_slot_of_finds_the_key_of_each_hot_command() -> None:
    assert slot_of(("XADD", "s:{u:1}", "*", "f", "v")) == key_slot(b"u:1")  # hash tag honoured
    assert slot_of(("XREADGROUP", "GROUP", "g", "c", "COUNT", 5, "STREAMS", "s:1", ">")) == key_slot(b"s:1")
    assert slot_of(("EVALSHA", "abc", 2, "k:{x}", "k2:{x}", "arg")) == key_slot(b"x")
    assert slot_of(("ZRANGEBYSCORE", b"z", 0, 10)) == key_slot(b"z")
    assert slot_of(("xgroup", "CREATE", "s:2", "g", "$")) == key_slot(b"s:2")
    assert slot_of(("EVALSHA", "abc", 0)) is None  # no key: where it runs is redis-py's choice
    assert slot_of(("PUBLISH", "channel", "m")) is None  # not in the table


@pytest.mark.cluster
async def test_replies_come_back_in_order_from_every_master(redis_cluster: RedisClusterGroup) -> None:
    client = connect(redis_cluster.url)
    line = RedisLine(client, 5.0)
    try:
        keys = [f"t:order:{n}" for n in range(40)]  # every master holds some
        assert len({redis_cluster.master_of(k).port for k in keys[:12]}) > 1
        writes = [("SET", k, n) for n, k in enumerate(keys)]
        assert await line.pipeline(writes) == [b"OK"] * len(keys)
        reads = [("GET", k) for k in reversed(keys)]
        assert await line.pipeline(reads) == [str(n).encode() for n in reversed(range(len(keys)))]
        # a command the table does not know sends its run through redis-py's pipeline, same order
        mixed = [("GET", keys[0]), ("TYPE", keys[1]), ("GET", keys[2])]
        assert await line.pipeline(mixed) == [b"0", b"string", b"2"]
    finally:
        await line.aclose()
        await client.aclose()


def _node_id(group: RedisClusterGroup, node: ClusterNodeServer) -> str:
    with group.client(node) as c:
        return str(c.execute_command("CLUSTER", "MYID").decode())


def _move_empty_slot(
    group: RedisClusterGroup, slot: int, source: ClusterNodeServer, target: ClusterNodeServer
) -> None:
    """Reshard one slot holding no key, the way redis-cli does it."""
    source_id, target_id = _node_id(group, source), _node_id(group, target)
    with group.client(target) as t, group.client(source) as s:
        t.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        t.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        s.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def _every_node_says(group: RedisClusterGroup, slot: int, owner: ClusterNodeServer) -> bool:
    """Whether every live node has `owner` serving `slot` in its table."""
    for node in group.live():
        with group.client(node) as c:
            row = c.execute_command("CLUSTER NODES").get(f"127.0.0.1:{owner.port}", {})
        if not any(low <= slot <= high for low, high in slot_ranges(row)):
            return False
    return True


@pytest.mark.cluster
async def test_a_moved_slot_is_raised_once_then_followed(redis_cluster: RedisClusterGroup) -> None:
    key = "t:moving:{m}"
    source = redis_cluster.master_of(key)
    target = next(m for m in redis_cluster.masters() if m.port != source.port)
    slot = key_slot(b"m")
    client = connect(redis_cluster.url)
    line = RedisLine(client, 5.0)
    try:
        assert await line.pipeline([("DEL", key), ("GET", key)]) == [0, None]  # the table is loaded
        _move_empty_slot(redis_cluster, slot, source, target)
        await wait_until(
            lambda: _every_node_says(redis_cluster, slot, target), timeout_s=20, what="slot moved"
        )
        with pytest.raises(MovedError):  # the line's table still says `source`: raised, as before
            await line.pipeline([("SET", "t:moving:other", "x"), ("SET", key, "1")])
        # the caller's retry: the line has reloaded the table and goes to the new master
        assert await line.pipeline([("SET", "t:moving:other", "x"), ("SET", key, "1")]) == [b"OK", b"OK"]
        with redis_cluster.client(target) as t:
            assert t.get(key) == b"1"
        await line.call("DEL", key)
    finally:
        _move_empty_slot(redis_cluster, slot, target, source)  # the session's cluster as it was
        await wait_until(
            lambda: _every_node_says(redis_cluster, slot, source), timeout_s=20, what="slot back"
        )
        await line.aclose()
        await client.aclose()
