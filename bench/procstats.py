"""Machine facts and per-process CPU seconds and memory, read with psutil."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psutil

VERSIONED_PACKAGES = ("aiohttp", "redis", "msgspec", "hiredis", "uvloop", "firebase-admin", "psutil")


def raise_nofile_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _redis_server_version() -> str:
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    for part in out.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return out.stdout.strip()


def machine() -> dict[str, object]:
    """Core count, load, memory and the versions that shape the numbers."""
    load1, load5, load15 = os.getloadavg()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "loadavg": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_server": _redis_server_version(),
        "packages": {p: v for p in VERSIONED_PACKAGES if (v := _version(p)) is not None},
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 if it is gone)."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far ((0, 0) if it is gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0, 0.0
    return float(t.user), float(t.system)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    return int(psutil.Process(pid).memory_info().rss)


@dataclass
class CpuMeter:
    """CPU seconds each named process spends between `start()` and `stop()`."""

    pids: dict[str, int]
    _before: dict[str, tuple[float, float]] | None = None
    system_s: dict[str, float] | None = None
    """After stop(): the kernel's share of each process's CPU seconds (socket sends live there)."""

    def start(self) -> CpuMeter:
        self._before = {name: cpu_split(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds (user + system) of each process since start()."""
        assert self._before is not None, "start() first"
        after = {name: cpu_split(pid) for name, pid in sorted(self.pids.items())}
        self.system_s = {n: round(a[1] - self._before[n][1], 3) for n, a in after.items()}
        return {n: round(sum(a) - sum(self._before[n]), 3) for n, a in after.items()}


def fleet_cpu(cpu: dict[str, float], fleet: Iterable[str], notifications: int) -> dict[str, Any]:
    """The fleet's CPU (the named processes of `cpu`) per notification, and each one's share."""
    mine = {name: cpu.get(name, 0.0) for name in sorted(fleet)}
    total = sum(mine.values())
    return {
        "fleet_cpu_s": round(total, 3),
        "fleet_cpu_us_per_notification": round(total / notifications * 1e6, 1) if notifications else None,
        "fleet_cpu_us_per_notification_by_process": {
            name: round(s / notifications * 1e6, 1) if notifications else None for name, s in mine.items()
        },
        "fleet_cpu_share": {name: round(s / total, 3) if total else None for name, s in mine.items()},
    }
