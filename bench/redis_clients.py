"""The bench's synchronous Redis client for any REDIS_URL the services take, and the server
counters a benchmark reads summed over every master of a cluster.

Cluster URLs are parsed by notify_common.redis_conn, as the services parse them. The cluster
client is handed out typed as `redis.Redis`, as the services' async one is: per-key commands
and non-transactional pipelines route themselves to each key's slot.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

import redis
from notify_common.redis_conn import CLUSTER_SCHEMES, parse_multi_host
from redis.cluster import ClusterNode, RedisCluster


def sync_client(url: str) -> redis.Redis:
    """One server (`redis://`, `rediss://`, `unix://`) or a cluster (`redis+cluster://`)."""
    if urlsplit(url).scheme not in CLUSTER_SCHEMES:
        return redis.Redis.from_url(url)
    spec = parse_multi_host(url)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in spec.hosts],
        username=spec.username,
        password=spec.password,
        ssl=spec.tls,
    )
    return cast(redis.Redis, cluster)


def masters(client: redis.Redis) -> list[redis.Redis]:
    """A client of each master: the server itself, or every primary of a cluster."""
    cluster: Any = client
    if not isinstance(cluster, RedisCluster):
        return [client]
    return [cluster.get_redis_connection(node) for node in cluster.get_primaries()]


def info_sum(client: redis.Redis, section: str, field: str) -> int:
    """`field` of INFO `section` summed over every master (replicas replay, not serve)."""
    return sum(int(node.info(section)[field]) for node in masters(client))


def commands_processed(client: redis.Redis) -> int:
    """Commands the masters have processed."""
    return info_sum(client, "stats", "total_commands_processed")


def used_memory(client: redis.Redis) -> int:
    """Bytes the masters use for data and buffers."""
    return info_sum(client, "memory", "used_memory")


def group_progress(client: redis.Redis, streams: list[str], group: str) -> tuple[int, int]:
    """(entries read, entries pending) of consumer group `group`, summed over `streams`."""
    read = pending = 0
    for stream in streams:
        for row in client.xinfo_groups(stream):
            name = row["name"]
            if (name.decode() if isinstance(name, bytes) else name) == group:
                read += int(row.get("entries-read") or 0)
                pending += int(row["pending"])
    return read, pending
