"""TCP ports: the fleet's fixed ports (docs/operations.md#ports) and free ones for tests."""

from __future__ import annotations

import errno
import random
import socket
from pathlib import Path

from fcm_fake.runner import DEFAULT_PORT as FCM_FAKE_PORT

from devstack.configref import service_fields

__all__ = ["FCM_FAKE_PORT", "PortBusy", "default_port", "free_port", "gateway_ports", "require_free"]

GATEWAY_OPS_STEP = 10
"""The n-th gateway node of `make run` takes PORT + n-1 and OPS_PORT + 10(n-1)."""


class PortBusy(RuntimeError):
    """A fixed port the fleet needs is taken by another process."""


FREE_PORT_FLOOR = 20000
"""Free ports for tests are drawn from here up to the kernel's ephemeral range."""
FREE_PORT_TRIES = 200


def free_port() -> int:
    """A TCP port that was free a moment ago on every address (the services listen on 0.0.0.0).

    Drawn below the kernel's ephemeral range: a port the OS picks itself (bind to 0) comes from
    the range every outgoing connection on the machine also draws from, so under a load
    generator's connection churn it was often taken again before the service bound it."""
    low, high = FREE_PORT_FLOOR, _ephemeral_floor()
    for _ in range(FREE_PORT_TRIES if high > low else 0):
        port = random.randrange(low, high)
        if _binds(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _binds(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def default_port(service: str, variable: str) -> int:
    """The default of a port variable (e.g. router HTTP_PORT) in the service's Config struct."""
    (field,) = [f for f in service_fields(service) if f.env == variable]
    if field.default is None:
        raise LookupError(f"{service} {variable} has no default")
    return int(field.default)


def gateway_ports(node: int) -> tuple[int, int]:
    """(PORT, OPS_PORT) of the n-th gateway node (1-based) when several share one host."""
    return (
        default_port("gateway", "PORT") + node - 1,
        default_port("gateway", "OPS_PORT") + GATEWAY_OPS_STEP * (node - 1),
    )


def require_free(ports: dict[str, int]) -> None:
    """Raise PortBusy naming every (what -> port) that another process already listens on."""
    busy = [f"{port} ({what})" for what, port in ports.items() if _in_use(port)]
    if busy:
        raise PortBusy(
            f"port(s) already in use: {', '.join(busy)}. Stop what holds them (another `make run`, "
            "`docker compose up`?), or run `make run ARGS=--free-ports` to let the OS pick every port."
        )


def _in_use(port: int) -> bool:
    # SO_REUSEADDR like aiohttp's own listener: a socket of a previous run in TIME_WAIT is no clash.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False
