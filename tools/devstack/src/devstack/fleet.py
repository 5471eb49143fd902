"""The whole fleet as local subprocesses: what `make run`, the e2e tests and benchmarks start."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from notify_common.keys import Keys

from devstack.ports import (
    FCM_FAKE_PORT,
    INBOX_PAGE_PORT,
    default_port,
    free_port,
    gateway_ports,
    require_free,
)
from devstack.procs import ServiceProcess, stop_all

# The same development values as docker-compose.yml and the dev overlay (a test keeps them equal).
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789"
DEV_SERVICE_TOKEN = "dev-service-token"
"""Bearer token that publishes through the router's HTTP API in a local fleet."""
DEV_ADMIN_TOKEN = "dev-admin-token"
"""Bearer token of history's admin routes (/v1/admin/*) in a local fleet."""


def dev_token(
    user_id: str,
    roles: list[str] | None = None,
    ttl_s: int = 3600,
    secret: str = DEV_JWT_SECRET,
    topics: list[str] | None = None,
) -> str:
    """An HS256 client token signed with the dev secret (never use the dev secret in production)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "roles": roles or [], "iat": now, "exp": now + ttl_s}
    if topics:
        claims["topics"] = topics
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class Fleet:
    """Router, history, push-worker and N gateway nodes on one Redis."""

    redis_url: str
    workdir: Path
    gateways: int = 2
    key_prefix: str = "nf"
    stream_shards: int = field(default_factory=lambda: int(os.environ.get("STREAM_SHARDS", "1")))
    """STREAM_SHARDS of every service (default: this process's STREAM_SHARDS, else 1)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = ("router", "history", "push-worker")
    """Services other than gateways to start; benchmarks start subsets (e.g. the router alone)."""
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Extra environment for one service by name (e.g. "gateway-1", "router"), over extra_env."""
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    gateway_ports: dict[str, int] = field(default_factory=dict)
    history_api_port: int = 0
    """Port of history's inbox API (free port chosen at start when 0)."""
    router_http_port: int = 0
    """Port of the router's publishing and preferences API (free port chosen at start when 0)."""
    fake_fcm: bool = True
    fcm_keep_messages: int = 10_000
    """Messages the fake FCM keeps for inspection (a load test needs them all)."""
    """Run the push-worker against a local fake FCM (its own process, generated service account).
    False when real credentials are given (FIREBASE_CREDENTIALS in the environment)."""
    fcm_port: int = 0
    """Port of the fake FCM and its control API (free port chosen at start when 0)."""
    push_api_port: int = 0
    """Port of the push-worker's device token API (free port chosen at start when 0)."""
    fcm: ServiceProcess | None = None
    fixed_ports: bool = False
    """Listen on the documented ports (docs/operations.md#ports), as `make run` does. False (tests,
    benchmarks): the OS picks every port, so fleets can run side by side."""
    ops_ports: dict[str, int] = field(default_factory=dict)
    """Ops port (/healthz, /readyz, /metrics) of each service by name, chosen at start."""
    inbox_page: bool = False
    """Serve the development inbox page (devstack.inbox_page) and allow its origin (CORS)."""
    page_port: int = 0
    """Port of the inbox page (free port chosen at start when 0)."""

    @property
    def keys(self) -> Keys:
        """The fleet's key and stream names (its prefix and shards)."""
        return Keys(self.key_prefix, self.stream_shards)

    def page_url(self) -> str:
        """The development inbox page (only with inbox_page)."""
        return f"http://127.0.0.1:{self.page_port}/"

    def page_origins(self) -> list[str]:
        """The page's origin as a browser sends it, by IP and by name."""
        return [f"http://127.0.0.1:{self.page_port}", f"http://localhost:{self.page_port}"]

    def common_env(self) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_url,
            "KEY_PREFIX": self.key_prefix,
            "STREAM_SHARDS": str(self.stream_shards),
            "LOG_FORMAT": "console",
            "CLAIM_IDLE_MS": "5000",
            **({"ALLOWED_ORIGINS": ",".join(self.page_origins())} if self.inbox_page else {}),
            **self.extra_env,
        }

    def _service(self, name: str, module: str, env: dict[str, str]) -> ServiceProcess:
        ops_port = self.ops_ports[name]
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        proc = ServiceProcess(
            name,
            module,
            {
                **self.common_env(),
                "NODE_ID": name,
                "OPS_PORT": str(ops_port),
                **env,
                **self.service_env.get(name, {}),
            },
            ops_port,
            self.workdir / "logs" / f"{name}.log",
        )
        self.processes[name] = proc
        return proc

    def _pick(self, service: str, variable: str) -> int:
        return default_port(service, variable) if self.fixed_ports else free_port()

    def assign_ports(self) -> dict[str, int]:
        """Choose every port this fleet listens on; returns them by what they are."""
        wanted: dict[str, int] = {}
        for service, variable, attr in [
            ("router", "HTTP_PORT", "router_http_port"),
            ("history", "API_PORT", "history_api_port"),
            ("push-worker", "API_PORT", "push_api_port"),
        ]:
            if service in self.services:
                setattr(self, attr, getattr(self, attr) or self._pick(service, variable))
                self.ops_ports[service] = self._pick(service, "OPS_PORT")
                wanted[f"{service} {variable}"] = getattr(self, attr)
                wanted[f"{service} OPS_PORT"] = self.ops_ports[service]
        if "push-worker" in self.services and self.fake_fcm:
            self.fcm_port = self.fcm_port or (FCM_FAKE_PORT if self.fixed_ports else free_port())
            wanted["fcm-fake --port"] = self.fcm_port
        if self.inbox_page:
            self.page_port = self.page_port or (INBOX_PAGE_PORT if self.fixed_ports else free_port())
            wanted["inbox-page --port"] = self.page_port
        for i in range(1, self.gateways + 1):
            name = f"gateway-{i}"
            port, ops = gateway_ports(i) if self.fixed_ports else (free_port(), free_port())
            self.gateway_ports[name], self.ops_ports[name] = port, ops
            wanted[f"{name} PORT"], wanted[f"{name} OPS_PORT"] = port, ops
        return wanted

    def start(self, timeout_s: float = 30.0) -> Fleet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        wanted = self.assign_ports()
        if self.fixed_ports:
            require_free(wanted)
        if "router" in self.services:
            self._service(
                "router",
                "router",
                {
                    "HTTP_PORT": str(self.router_http_port),
                    "SERVICE_TOKENS": DEV_SERVICE_TOKEN,
                    "JWT_SECRET": DEV_JWT_SECRET,
                },
            )
        if "history" in self.services:
            db_url = f"sqlite:///{self.workdir / 'history.db'}"
            self._service(
                "history",
                "history",
                {
                    "DATABASE_URL": db_url,
                    "API_PORT": str(self.history_api_port),
                    "JWT_SECRET": DEV_JWT_SECRET,
                    "ADMIN_TOKEN": DEV_ADMIN_TOKEN,
                },
            )
        if "push-worker" in self.services:
            push_env = {"API_PORT": str(self.push_api_port), "JWT_SECRET": DEV_JWT_SECRET}
            if self.fake_fcm:
                push_env.update(self._start_fake_fcm(timeout_s))
            self._service("push-worker", "push_worker", push_env)
        for name, port in self.gateway_ports.items():
            self._service(name, "gateway", {"PORT": str(port), "JWT_SECRET": DEV_JWT_SECRET})
        if self.inbox_page:
            self._page()
        try:
            for proc in self.processes.values():
                proc.start()
            for proc in self.processes.values():
                proc.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _page(self) -> None:
        """The inbox page as one more process; it needs every URL the fleet was given."""
        args = ["--port", str(self.page_port), "--router", self.router_url()]
        args += ["--inbox", self.inbox_url(), "--devices", self.push_url()]
        for name in self.gateway_ports:
            args += ["--gateway", self.gateway_url(name)]
        self.processes["inbox-page"] = ServiceProcess(
            "inbox-page",
            "devstack.inbox_page",
            {**self.common_env(), "JWT_SECRET": DEV_JWT_SECRET},
            self.page_port,
            self.workdir / "logs" / "inbox-page.log",
            args=tuple(args),
            ready_path="/healthz",
        )

    def _start_fake_fcm(self, timeout_s: float) -> dict[str, str]:
        """Start the fake FCM as its own process; the push-worker's settings to use it."""
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        account = self.workdir / "fcm-fake-service-account.json"
        self.fcm = ServiceProcess(
            "fcm-fake",
            "fcm_fake",
            {},
            self.fcm_port,
            self.workdir / "logs" / "fcm-fake.log",
            args=(
                "--port",
                str(self.fcm_port),
                "--service-account-out",
                str(account),
                "--keep-messages",
                str(self.fcm_keep_messages),
            ),
            ready_path="/healthz",
        )
        try:
            self.fcm.start().wait_ready(timeout_s)
            deadline = time.monotonic() + timeout_s
            while not account.exists():  # written right after the port is bound
                if time.monotonic() > deadline:
                    raise TimeoutError(f"fcm-fake wrote no service account:\n{self.fcm.tail()}")
                time.sleep(0.05)
        except BaseException:
            self.fcm.stop()
            raise
        return {"FCM_BASE_URL": self.fcm_url(), "FIREBASE_CREDENTIALS": str(account)}

    def fcm_url(self) -> str:
        """Base URL of the fake FCM, whose control API scripts failures (tools/fcm-fake/README.md)."""
        return f"http://127.0.0.1:{self.fcm_port}"

    def push_url(self) -> str:
        """Base URL of the push-worker's device token API (docs/protocol.md section 6)."""
        return f"http://127.0.0.1:{self.push_api_port}"

    def inbox_url(self) -> str:
        """Base URL of history's inbox API (docs/protocol.md section 7)."""
        return f"http://127.0.0.1:{self.history_api_port}"

    def router_url(self) -> str:
        """Base URL of the router's HTTP API (docs/protocol.md sections 2 and 3)."""
        return f"http://127.0.0.1:{self.router_http_port}"

    def gateway_url(self, name: str = "gateway-1") -> str:
        return f"ws://127.0.0.1:{self.gateway_ports[name]}/ws"

    def pids(self) -> dict[str, int]:
        """Process id of every started service, by name (for CPU and memory readings)."""
        return {n: p.process.pid for n, p in self.processes.items() if p.process is not None}

    def stop(self, timeout_s: float = 15.0) -> dict[str, int | None]:
        """SIGTERM every service (gateways first), wait for all within one bound (SIGKILL after
        it) and collect exit statuses. The caller stops Redis after this returns."""
        order = sorted(self.processes, key=lambda n: (not n.startswith("gateway"), n))
        statuses = stop_all([self.processes[name] for name in order], timeout_s)
        if self.fcm is not None:
            self.fcm.stop()  # after the push-worker, which may be finishing a batch
        return statuses
