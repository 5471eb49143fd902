"""A throwaway PostgreSQL cluster: initdb into a temp dir, serve on a free port, delete on stop.

Never touches the machine's own PostgreSQL: the cluster has its own data directory, its own
port and its unix socket inside the temp dir. Trust authentication on loopback only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port

SUPERUSER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres) were not found on PATH or under "
    "/usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `sudo apt-get install postgresql`; "
    "macOS: `brew install postgresql`) or set TEST_DATABASE_URL to a database you may wipe."
)


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries are available."""


def find_bin_dir() -> Path | None:
    """The directory holding initdb and postgres, or None."""
    found = shutil.which("initdb")
    if found is not None:
        real = Path(os.path.realpath(found)).parent
        if (real / "postgres").exists():
            return real
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: drop to an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresMissing("running as root and no unprivileged account (postgres, nobody) exists")


@dataclass
class PostgresServer:
    """A postgres child process owned by the caller."""

    port: int
    workdir: Path
    durable: bool = False
    """False turns fsync off (tests); True keeps the defaults (benchmarks of write throughput)."""
    process: subprocess.Popen[bytes] | None = None
    bin_dir: Path | None = None
    _user: str | None = field(default=None, repr=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.workdir / "sock"

    def _bin(self, name: str) -> str:
        assert self.bin_dir is not None
        return str(self.bin_dir / name)

    def start(self, timeout_s: float = 30.0) -> PostgresServer:
        self.bin_dir = self.bin_dir or find_bin_dir()
        if self.bin_dir is None:
            raise PostgresMissing(INSTALL_HINT)
        self._user = _run_as()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            for path in (self.workdir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not self.data_dir.exists():
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "-EUTF8"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                user=self._user,
            )
        args = [
            self._bin("postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.workdir / "postgres.log", "ab")
        self.process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._user,
        )
        log.close()
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            probe = subprocess.run(
                [self._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if probe.returncode == 0:
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"postgres exited early; see {self.workdir / 'postgres.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres on port {self.port} not ready in {timeout_s}s")
            time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        subprocess.run(
            [self._bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then delete the cluster."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres(*, durable: bool = False, database: str = "nf_test") -> tuple[PostgresServer, str]:
    """Start a throwaway cluster in a fresh temp dir; returns the server and a new database's URL."""
    workdir = Path(tempfile.mkdtemp(prefix="nf-pg-"))
    server = PostgresServer(free_port(), workdir, durable)
    try:
        server.start()
        url = server.create_database(database)
    except BaseException:
        server.stop()
        raise
    return server, url
