"""Throwaway Redis Cluster (3 masters, 3 replicas) and Sentinel group (master, replica, 3
sentinels) on free ports, for tests and the reliability tier; always stopped by their owner."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from devstack.ports import free_port
from devstack.redis_server import INSTALL_HINT, RedisMissing, RedisServer

SENTINEL_SERVICE = "notify"


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RedisMissing(INSTALL_HINT)
    return found


def _wait(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except redis.exceptions.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready in {timeout_s}s")
        time.sleep(0.1)


def slot_ranges(row: dict[str, Any]) -> list[tuple[int, int]]:
    """(first, last) of each slot range in a node's row of redis-py's parsed CLUSTER NODES (a
    single slot comes as a one-item range)."""
    return [(int(r[0]), int(r[-1])) for r in row.get("slots", [])]


@dataclass
class ClusterNodeServer(RedisServer):
    """One redis-server with --cluster-enabled, its node file in its own directory."""

    bus_port: int = 0
    """The cluster bus port, picked free like the data port (port + 10000 may be taken)."""

    def extra_args(self) -> list[str]:
        if not self.bus_port:
            self.bus_port = free_port()
        return [
            "--cluster-enabled", "yes",
            "--cluster-port", str(self.bus_port),
            "--cluster-config-file", str(self.workdir / "nodes.conf"),
            "--cluster-node-timeout", "2000",
        ]  # fmt: skip


@dataclass
class RedisClusterGroup:
    """Six cluster nodes; `nodes[:3]` start as masters, each with one replica."""

    workdir: Path
    nodes: list[ClusterNodeServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(port=node.port, socket_timeout=5, socket_connect_timeout=1)

    def role(self, node: RedisServer) -> str:
        """ "master" or "slave", as the node says."""
        with self.client(node) as client:
            return str(client.execute_command("ROLE")[0].decode())

    def masters(self) -> list[ClusterNodeServer]:
        return [n for n in self.live() if self.role(n) == "master"]

    def live(self) -> list[ClusterNodeServer]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def replica_of(self, master: RedisServer) -> ClusterNodeServer:
        """A live replica of `master`."""
        with self.client(master) as client:
            table = client.execute_command("CLUSTER NODES")  # {"host:port": {node_id, master_id, …}}
        master_id = table[f"127.0.0.1:{master.port}"]["node_id"]
        for node in self.live():
            row = table.get(f"127.0.0.1:{node.port}")
            if node is not master and row is not None and row["master_id"] == master_id:
                if "fail" not in row["flags"]:
                    return node
        raise LookupError(f"no live replica of the node on port {master.port}")

    def master_of(self, key: str) -> ClusterNodeServer:
        """The live master serving `key`'s hash slot now."""
        for node in self.masters():
            with self.client(node) as client:
                slot = int(client.execute_command("CLUSTER KEYSLOT", key))
                row = client.execute_command("CLUSTER NODES")[f"127.0.0.1:{node.port}"]
            if any(low <= slot <= high for low, high in slot_ranges(row)):
                return node
        raise LookupError(f"no live master serves {key!r}")

    def wait_master(self, node: RedisServer, timeout_s: float = 30.0) -> None:
        """Until `node` is a master and every live node says the cluster is ok."""
        _wait(f"node {node.port} as master", lambda: self.role(node) == "master", timeout_s)
        self.wait_ok(timeout_s)

    def start(self, timeout_s: float = 60.0) -> RedisClusterGroup:
        cli = _binary("redis-cli")
        for _ in range(6):
            workdir = Path(tempfile.mkdtemp(prefix="node-", dir=self.workdir))
            node = ClusterNodeServer(free_port(), workdir)
            node.start()
            self.nodes.append(node)
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
        )
        self.wait_ok(timeout_s)

        def every_master_replicated() -> bool:
            masters = self.masters()
            for master in masters:
                with self.client(master) as client:
                    if not client.execute_command("ROLE")[2]:  # [role, offset, [replica, …]]
                        return False
            return len(masters) == 3

        _wait("redis cluster replicas", every_master_replicated, timeout_s)
        self.wait_ok(timeout_s)  # the replicas' own view too
        return self

    def wait_ok(self, timeout_s: float = 60.0) -> None:
        """Until every live node says the cluster is ok and knows three masters with replicas."""

        def every_node_ok() -> bool:
            for node in self.live():
                with self.client(node) as client:
                    if client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                        return False
            return True

        _wait("redis cluster", every_node_ok, timeout_s)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class SentinelServer(RedisServer):
    """A redis-server in sentinel mode watching one master."""

    master_port: int = 0

    def extra_args(self) -> list[str]:
        config = self.workdir / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 1000\n"
            f"sentinel failover-timeout {SENTINEL_SERVICE} 5000\n"
            f"sentinel parallel-syncs {SENTINEL_SERVICE} 1\n"
        )
        return ["--sentinel"]

    def config_file(self) -> Path | None:
        return self.workdir / "sentinel.conf"


@dataclass
class SentinelGroup:
    """A master, one replica and three sentinels (quorum 2) on free ports."""

    workdir: Path
    data: list[RedisServer] = field(default_factory=list)
    sentinels: list[SentinelServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SENTINEL_SERVICE}"

    def master(self) -> RedisServer:
        """The data node the sentinels name as master now."""
        for sentinel in self.sentinels:
            if sentinel.process is None or sentinel.process.poll() is not None:
                continue
            with redis.Redis(port=sentinel.port, socket_timeout=2) as client:
                _, port = client.sentinel_get_master_addr_by_name(SENTINEL_SERVICE)
            return next(n for n in self.data if n.port == int(port))
        raise LookupError("no sentinel answers")

    def wait_new_master(self, old: RedisServer, timeout_s: float = 30.0) -> RedisServer:
        """Until the sentinels name a master other than `old` and it says it is one."""
        found: list[RedisServer] = []

        def promoted() -> bool:
            master = self.master()
            if master is old:
                return False
            with redis.Redis(port=master.port, socket_timeout=2) as client:
                if client.execute_command("ROLE")[0] != b"master":
                    return False
            found[:] = [master]
            return True

        _wait("sentinel failover", promoted, timeout_s)
        return found[0]

    def start(self, timeout_s: float = 60.0) -> SentinelGroup:
        master = RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="master-", dir=self.workdir)))
        self.data.append(master.start())
        replica = ReplicaServer(free_port(), Path(tempfile.mkdtemp(prefix="replica-", dir=self.workdir)))
        replica.master_port = master.port
        self.data.append(replica.start())
        for _ in range(3):
            workdir = Path(tempfile.mkdtemp(prefix="sentinel-", dir=self.workdir))
            sentinel = SentinelServer(free_port(), workdir)
            sentinel.master_port = master.port
            sentinel.start()
            self.sentinels.append(sentinel)

        def replica_known() -> bool:
            with redis.Redis(port=replica.port, socket_timeout=2) as client:
                if client.info("replication").get("master_link_status") != "up":
                    return False
            for sentinel in self.sentinels:
                with redis.Redis(port=sentinel.port, socket_timeout=2) as client:
                    state = client.sentinel_master(SENTINEL_SERVICE)
                    if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                        return False
            return True

        _wait("sentinel group", replica_known, timeout_s)
        return self

    def stop(self) -> None:
        for server in [*self.sentinels, *self.data]:
            server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class ReplicaServer(RedisServer):
    """A redis-server replicating `master_port`."""

    master_port: int = 0

    def extra_args(self) -> list[str]:
        return ["--replicaof", "127.0.0.1", str(self.master_port)]


def start_cluster() -> RedisClusterGroup:
    """A 3-master, 3-replica Redis Cluster in a fresh temporary directory."""
    group = RedisClusterGroup(Path(tempfile.mkdtemp(prefix="nf-cluster-")))
    try:
        return group.start()
    except BaseException:
        group.stop()
        raise


def start_sentinel() -> SentinelGroup:
    """A master, a replica and three sentinels in a fresh temporary directory."""
    group = SentinelGroup(Path(tempfile.mkdtemp(prefix="nf-sentinel-")))
    try:
        return group.start()
    except BaseException:
        group.stop()
        raise
