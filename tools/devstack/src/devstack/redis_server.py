"""A throwaway redis-server on a free port, optionally with AOF, that can be killed and restarted."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from devstack.ports import free_port

INSTALL_HINT = (
    "redis-server was not found on PATH. Install Redis 7 (Debian/Ubuntu: `sudo apt-get install "
    "redis-server`; macOS: `brew install redis`) or set REDIS_URL to an existing server."
)


class RedisMissing(RuntimeError):
    """No redis-server binary is available."""


@dataclass
class RedisServer:
    """A redis-server child process owned by the caller."""

    port: int
    workdir: Path
    appendonly: bool = False
    password: str = ""
    process: subprocess.Popen[bytes] | None = None
    _owns_dir: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisMissing(INSTALL_HINT)
        config = self.config_file()
        args = [
            binary,
            *([str(config)] if config is not None else []),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        args += self.extra_args()
        # A session of its own: Ctrl-C in a terminal must not stop Redis under the services that
        # still use it; its owner stops it, after them (devstack: services first, Redis last).
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.wait_ready(timeout_s)
        return self

    def config_file(self) -> Path | None:
        """A config file given first on the command line (sentinels need one); none here."""
        return None

    def extra_args(self) -> list[str]:
        """More command-line options (cluster and sentinel servers add theirs)."""
        return []

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    pass
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited early; see {self.workdir / 'redis.log'}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on port {self.port} not ready in {timeout_s}s")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no goodbye, no final AOF rewrite."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._owns_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def wipe(self) -> None:
        """Delete the data files of a stopped server: its next start is empty."""
        for name in ("appendonlydir", "dump.rdb"):
            path = self.workdir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def restart(self) -> None:
        """Kill and start again on the same port and data directory (AOF survives)."""
        self.kill()
        self.start()


def start_redis(*, appendonly: bool = False, password: str = "", port: int | None = None) -> RedisServer:
    """Start a throwaway redis-server on a free port in a fresh temporary directory."""
    workdir = Path(tempfile.mkdtemp(prefix="nf-redis-"))
    server = RedisServer(port or free_port(), workdir, appendonly, password, _owns_dir=True)
    return server.start()
