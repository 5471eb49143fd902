"""One way to open a Redis client from REDIS_URL: one server, a Redis Cluster or a Sentinel group.

- `redis://`, `rediss://` (TLS), `unix://`: one server.
- `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster://` with TLS):
  a Redis Cluster, discovered from any of the startup nodes.
- `redis+sentinel://[user:password@]host:port[,host:port...]/<service>[?db=N]`
  (`rediss+sentinel://` with TLS to the data nodes): the master of `<service>` as the sentinels
  name it; a failover moves the client to the promoted replica.

The cluster client is handed out typed as `redis.asyncio.Redis`: it answers the same command
methods (per key, routed to the key's slot), so the services keep one client type. What differs
(pipelines, MULTI, scripts over several keys) is kept on one hash slot by the key names
(`keys.py`), and `is_cluster` tells the few places that must act differently.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import redis.asyncio as redis_async
from redis._parsers.commands import AsyncCommandsParser
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


@dataclass(frozen=True, slots=True)
class MultiHostUrl:
    """A cluster or sentinel URL taken apart."""

    tls: bool
    hosts: list[tuple[str, int]]
    username: str | None
    password: str | None
    service: str
    """Sentinel: the monitored master's name (the path); cluster: empty."""
    options: dict[str, str]


def parse_multi_host(url: str) -> MultiHostUrl:
    """Split a `redis+cluster://` or `redis+sentinel://` URL; ValueError names what is wrong."""
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, sep, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if sep else None
    hosts: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {item!r}")
        hosts.append((host.strip("[]"), int(port)))
    service = parts.path.strip("/")
    if parts.scheme in SENTINEL_SCHEMES and not service:
        raise ValueError("a sentinel URL names its master: redis+sentinel://host:port/<service>")
    if parts.scheme in CLUSTER_SCHEMES and service not in ("", "0"):
        raise ValueError("a cluster has database 0 only")
    return MultiHostUrl(
        tls=parts.scheme.startswith("rediss"),
        hosts=hosts,
        username=username,
        password=password,
        service=service if parts.scheme in SENTINEL_SCHEMES else "",
        options=dict(parse_qsl(parts.query)),
    )


def is_cluster(client: Any) -> bool:
    """True for a client of a Redis Cluster (commands of one pipeline may go to several nodes)."""
    return isinstance(client, RedisCluster)


class _StreamKeysParser(AsyncCommandsParser):  # type: ignore[misc]  # untyped base
    """Finds the keys of XREAD/XREADGROUP itself. redis-py asks a node (COMMAND GETKEYS) for
    every command flagged with movable keys, so each blocking read of a consumer would cost an
    extra round trip, to a node that may be the one just lost in a failover."""

    async def get_keys(self, *args: Any) -> tuple[str, ...] | None:
        name = args[0].upper() if isinstance(args[0], str) else bytes(args[0]).decode().upper()
        if name in ("XREAD", "XREADGROUP"):
            rest = [a.decode() if isinstance(a, bytes) else str(a) for a in args[1:]]
            upper = [a.upper() for a in rest]
            if "STREAMS" in upper:
                streams = rest[upper.index("STREAMS") + 1 :]
                return tuple(streams[: len(streams) // 2])
        keys: tuple[str, ...] | None = await super().get_keys(*args)
        return keys


def _connection_settings(block_ms: int, per_read_timeout: bool) -> dict[str, Any]:
    return {
        "socket_timeout": block_ms / 1000 + 5 if per_read_timeout else None,
        "socket_connect_timeout": 3,
        "health_check_interval": 15,
        "decode_responses": False,
    }


class FleetCluster(RedisCluster):  # type: ignore[misc]  # untyped base
    """A cluster client that can open a twin of itself (same URL and settings)."""

    def __init__(self, url: str, per_node: int, settings: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(max_connections=per_node, **kwargs)
        self.url = url
        self.max_connections_per_node = per_node
        self.settings = settings
        self.commands_parser = _StreamKeysParser()

    def raw_twin(self) -> RedisCluster:
        """A client of the same cluster whose replies are Redis' own (no redis-py reply parsing,
        as a single server's raw connection gives them), for `RedisLine`. Only the replies the
        client needs to follow the cluster (CLUSTER …, COMMAND) are still parsed."""
        twin = _cluster(self.url, self.max_connections_per_node, self.settings)
        callbacks = twin.response_callbacks
        for name in list(callbacks):
            if not str(name).upper().startswith(("CLUSTER", "COMMAND")):
                del callbacks[name]
        return twin


def _cluster(url: str, max_connections: int, settings: dict[str, Any]) -> FleetCluster:
    spec = parse_multi_host(url)
    tls_options = {k: v for k, v in spec.options.items() if k.startswith("ssl_")}
    return FleetCluster(
        url,
        max_connections,
        settings,
        startup_nodes=[ClusterNode(host, port) for host, port in spec.hosts],
        username=spec.username,
        password=spec.password,
        ssl=spec.tls,
        **tls_options,
        **settings,
    )


class _BlockingSentinelPool(SentinelConnectionPool, redis_async.BlockingConnectionPool):  # type: ignore[misc]
    """The sentinel pool (connections follow the master) with the blocking pool's checkout:
    a burst waits for a free connection instead of failing."""


class _SentinelMaster(redis_async.Redis):  # type: ignore[misc]  # untyped base
    """The master's client; closing it closes the sentinel connections too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


def _sentinel(url: str, max_connections: int, pool_timeout_s: float, settings: dict[str, Any]) -> Any:
    spec = parse_multi_host(url)
    sentinel_auth = {k: v for k, v in (("password", spec.options.get("sentinel_password")),) if v is not None}
    sentinel = Sentinel(
        spec.hosts,
        sentinel_kwargs={"socket_timeout": 3, "socket_connect_timeout": 3, **sentinel_auth},
    )
    return sentinel.master_for(
        spec.service,
        redis_class=_SentinelMaster,
        connection_pool_class=_BlockingSentinelPool,
        db=int(spec.options.get("db", "0")),
        username=spec.username,
        password=spec.password,
        ssl=spec.tls,
        max_connections=max_connections,
        timeout=pool_timeout_s,
        **settings,
    )


def connect(
    url: str,
    *,
    block_ms: int = 1000,
    max_connections: int = 64,
    pool_timeout_s: float = 10.0,
    per_read_timeout: bool = True,
) -> redis_async.Redis:
    """A client for any REDIS_URL form (see the module docstring), with a password if it has one.

    The pool blocks (up to `pool_timeout_s`) when all `max_connections` are busy instead of
    failing: a burst of WebSocket handshakes or closes waits its turn rather than losing presence
    writes (a cluster client has `max_connections` per node and raises instead). The socket
    timeout outlasts the longest blocking read, so XREADGROUP BLOCK never times out client-side;
    health checks spot connections that died while idle. `per_read_timeout=False` drops the
    per-reply timer (a measurable cost on pipelines of thousands of commands): the caller then
    bounds each operation itself (`asyncio.timeout`).
    """
    settings = _connection_settings(block_ms, per_read_timeout)
    scheme = urlsplit(url).scheme
    if scheme in CLUSTER_SCHEMES:
        # a cluster node's pool cannot wait: give it room for a burst
        return cast(redis_async.Redis, _cluster(url, max(max_connections, 256), settings))
    if scheme in SENTINEL_SCHEMES:
        return cast(redis_async.Redis, _sentinel(url, max_connections, pool_timeout_s, settings))
    pool = redis_async.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=pool_timeout_s, **settings
    )
    return redis_async.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


def closed_under_us(exc: BaseException) -> bool:
    """Whether `exc` is redis-py writing on a connection another task closed meanwhile.

    redis-py 8.1's asyncio connection then leaks an AttributeError or TypeError ('NoneType' …)
    from its write path instead of a ConnectionError (its cluster client closes connections under
    their own handshake after a topology refresh: about one router start in 25 on a local
    cluster; redis/redis-py#4287, fixed upstream, not yet released). Judged by where it was
    raised: the innermost frame outside asyncio's own modules is redis-py's connection module.
    """
    if not isinstance(exc, AttributeError | TypeError) or "NoneType" not in str(exc):
        return False
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = frame.filename.replace("\\", "/")
        if "/asyncio/" in path and "/redis/" not in path:
            continue  # the event loop's transport, under redis-py's write
        return path.endswith("/redis/asyncio/connection.py")
    return False
