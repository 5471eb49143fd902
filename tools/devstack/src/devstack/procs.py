"""Start fleet services as real subprocesses and wait until they are ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServiceProcess:
    """One running service: `python -m <module>` with its own environment."""

    name: str
    module: str
    env: dict[str, str]
    ops_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()
    """Command-line arguments after `-m <module>` (tools such as the fake FCM take flags)."""
    ready_path: str = "/readyz"
    """Path on `ops_port` that answers 200 once the process is ready."""

    def start(self) -> ServiceProcess:
        env = {**os.environ, **self.env}
        log = open(self.log_path, "ab")
        # A session of its own: Ctrl-C in the terminal reaches only the launcher, which then stops
        # each service once with SIGTERM (instead of every service getting SIGINT and SIGTERM).
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.ops_port}{self.ready_path}", timeout=1
            ) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float = 20.0) -> ServiceProcess:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready after {timeout_s}s:\n{self.tail()}")
            time.sleep(0.05)
        return self

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def terminate(self) -> None:
        """SIGTERM, without waiting (see stop_all)."""
        self.signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it overstays. Returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


class Processes:
    """The service processes one test started, to be killed at its end (the `processes` fixture)."""

    def __init__(self) -> None:
        self.started: list[ServiceProcess] = []

    def start(self, proc: ServiceProcess, ready_s: float = 30.0) -> ServiceProcess:
        """Start `proc` and wait until it is ready."""
        self.started.append(proc)
        return proc.start().wait_ready(ready_s)

    def kill_all(self) -> None:
        for proc in self.started:
            proc.kill()


def stop_all(procs: list[ServiceProcess], timeout_s: float = 15.0) -> dict[str, int | None]:
    """SIGTERM each process in order, then wait for all of them within one shared bound; SIGKILL
    those that overstay it. Exit statuses by name (None: never started)."""
    for proc in procs:
        proc.terminate()
    deadline = time.monotonic() + timeout_s
    statuses: dict[str, int | None] = {}
    for proc in procs:
        if proc.process is None:
            statuses[proc.name] = None
            continue
        try:
            proc.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.process.kill()
            proc.process.wait(10)
        statuses[proc.name] = proc.process.returncode
    return statuses
