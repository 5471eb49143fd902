"""`python -m devstack` (`make run`) as a user meets it: the banner's URLs, tokens and commands
work as printed, `token` mints user JWTs, and Ctrl-C stops the services before Redis."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from devstack.__main__ import main
from devstack.banner import END
from devstack.fleet import DEV_ADMIN_TOKEN, DEV_JWT_SECRET, DEV_SERVICE_TOKEN
from devstack.ports import PortBusy, require_free


@dataclass
class Devstack:
    """A `python -m devstack --free-ports` process in a session of its own, like `make run` in a
    terminal (whose Ctrl-C signals the whole foreground process group)."""

    process: subprocess.Popen[bytes]
    workdir: Path
    banner: str

    def line_after(self, heading: str) -> str:
        lines = self.banner.splitlines()
        return lines[next(i for i, line in enumerate(lines) if line.strip() == heading) + 1].strip()

    def export(self, name: str) -> str:
        found = re.search(rf"^\s*export {name}=(\S+)$", self.banner, re.MULTILINE)
        assert found, f"no `export {name}=` in the banner"
        return shlex.split(found.group(1))[0]


def start_devstack(workdir: Path, timeout_s: float = 90.0) -> Devstack:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FIREBASE_CREDENTIALS")}
    out = workdir / "devstack.out"
    with open(out, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--free-ports"],
            env={**env, "RUN_DIR": str(workdir)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while END not in (text := out.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"devstack did not come up:\n{text}")
        time.sleep(0.1)
    return Devstack(process, workdir, text)


def interrupt(stack: Devstack) -> None:
    """What Ctrl-C in a terminal does: SIGINT to every process of the foreground group."""
    os.killpg(stack.process.pid, signal.SIGINT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devstack]:
    running = start_devstack(tmp_path_factory.mktemp("devstack"))
    try:
        yield running
    finally:
        interrupt(running)
        assert running.process.wait(60) == 0


def request(command: str) -> tuple[int, dict[str, object]]:
    """Run a one-line `curl -H … [-d …] URL` from the banner (no curl needed), after the shell has
    expanded $USER_TOKEN as it would."""
    args = shlex.split(command)
    assert args[0] == "curl"
    headers, body, url = {}, None, args[-1]
    for flag, value in zip(args[1:-1:2], args[2:-1:2], strict=True):
        if flag == "-H":
            name, _, text = value.partition(": ")
            headers[name] = text
        else:
            assert flag == "-d", flag
            body = value.encode()
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def with_user_token(stack: Devstack, command: str) -> str:
    return command.replace("$USER_TOKEN", stack.export("USER_TOKEN"))


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


pytestmark = pytest.mark.e2e


def test_banner_publish_command_is_accepted_by_the_router(stack: Devstack) -> None:
    command = stack.line_after("publish to user 42:")
    assert f"Authorization: Bearer {DEV_SERVICE_TOKEN}" in command
    status, body = request(command)
    assert status == 202, body
    assert str(body["id"]).startswith("evt-")


def test_banner_admin_command_reads_the_trail_of_a_published_notification(stack: Devstack) -> None:
    _, published = request(stack.line_after("publish to user 42:"))
    trail = stack.line_after("delivery trail of a notification (its id is in the publish answer):")
    assert DEV_ADMIN_TOKEN in trail
    deadline = time.monotonic() + 20
    while (answer := request(trail.replace("<id>", str(published["id"]))))[0] == 404:
        assert time.monotonic() < deadline, "history never stored the notification"
        time.sleep(0.1)
    assert answer[0] == 200 and answer[1]["id"] == published["id"]


def test_banner_user_commands_reach_inbox_and_device_apis(stack: Devstack) -> None:
    status, inbox = request(with_user_token(stack, stack.line_after("inbox of user 42:")))
    assert status == 200 and "items" in inbox
    status, device = request(with_user_token(stack, stack.line_after("register a push device for user 42:")))
    assert (status, device["token"]) == (201, "dev-device-1")


def test_banner_names_a_live_url_for_every_service(stack: Devstack) -> None:
    urls = dict(re.findall(r"^  (\S.*?)\s{2,}((?:ws|http)://\S+)", stack.banner, re.MULTILINE))
    assert {"gateway-1 WebSocket", "gateway-2 SSE", "publish API (router)", "inbox API (history)"} <= set(
        urls
    )
    assert {"device API (push)", "fake FCM"} <= set(urls)
    assert http_status(urls["fake FCM"]) == 200
    assert http_status(urls["publish API (router)"].replace("/v1/events", "/v1/openapi.json")) == 200
    for name in ("gateway-1 SSE", "inbox API (history)", "device API (push)"):
        assert http_status(urls[name]) == 401, name  # there, and asking for a token
    ops = re.search(r"/healthz /readyz /metrics on (.+)$", stack.banner, re.MULTILINE)
    assert ops is not None
    ports = dict(part.rsplit(" ", 1) for part in ops.group(1).split(", "))
    assert set(ports) == {"router", "history", "push-worker", "gateway-1", "gateway-2"}
    assert all(http_status(f"http://127.0.0.1:{p}/readyz") == 200 for p in ports.values())


def test_banner_export_points_notifyctl_at_the_fleet_redis(stack: Devstack) -> None:
    env = {**os.environ, "REDIS_URL": stack.export("REDIS_URL"), "KEY_PREFIX": stack.export("KEY_PREFIX")}
    result = subprocess.run(
        [sys.executable, "-m", "notifyctl", "--json", "lag"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    groups = {g["group"] for s in json.loads(result.stdout) for g in s["groups"]}
    assert {"router", "history"} <= groups


def test_token_command_mints_a_dev_token_for_any_user_and_roles(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    assert main(["token", "--user", "7", "--roles", "driver,dispatcher", "--roles", "admin"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["roles"]) == ("7", ["driver", "dispatcher", "admin"])
    assert claims["exp"] - claims["iat"] == 3600


def test_token_command_signs_with_jwt_secret_when_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", "another-secret-for-this-test-0123456789")
    assert main(["token", "--user", "7", "--topics", "news"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, "another-secret-for-this-test-0123456789", algorithms=["HS256"])
    assert claims["topics"] == ["news"]


def test_a_busy_fixed_port_is_refused_with_what_needs_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortBusy, match=rf"{port} \(router HTTP_PORT\).*--free-ports"):
            require_free({"router HTTP_PORT": port})


def _children(pid: int) -> dict[int, str]:
    """Child processes of `pid` by pid: 'redis' or the module a Python child runs."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            args = [a.decode() for a in cmdline if a]
            found[int(entry.name)] = "redis" if "redis-server" in args[0] else args[args.index("-m") + 1]
    return found


def _running(pid: int) -> bool:
    """False once the process exited (a zombie its parent has not reaped yet counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.timeout(180)
def test_ctrl_c_stops_every_service_before_redis_and_none_loses_redis(tmp_path: Path) -> None:
    stack = start_devstack(tmp_path)
    children = _children(stack.process.pid)
    (redis_pid,) = [p for p, name in children.items() if name == "redis"]
    services = [p for p, name in children.items() if name != "redis"]
    expected = {"router", "history", "push_worker", "gateway", "fcm_fake", "devstack.inbox_page"}
    assert expected == {children[p] for p in services}
    interrupt(stack)
    deadline = time.monotonic() + 60
    while stack.process.poll() is None:
        assert time.monotonic() < deadline, "devstack did not stop"
        if not _running(redis_pid):
            still = [children[p] for p in services if _running(p)]
            assert still == [], f"redis-server exited while {still} still ran"
        time.sleep(0.01)
    assert stack.process.returncode == 0
    assert not _running(redis_pid)
    logs = {log.name: log.read_text() for log in (tmp_path / "logs").glob("*.log")}
    assert {"router.log", "history.log", "push-worker.log", "gateway-1.log"} <= set(logs)
    assert [name for name, text in logs.items() if "redis_unreachable" in text] == []


def test_banner_starts_with_the_inbox_page_which_mints_dev_tokens(stack: Devstack) -> None:
    first = next(line for line in stack.banner.splitlines() if line.strip())
    assert first.startswith("Inbox page (development): http://127.0.0.1:")
    page = first.split(": ", 1)[1]
    assert http_status(page) == 200
    base = page.split("?", 1)[0]
    assert http_status(base + "sdk/index.js") == 200
    req = urllib.request.Request(
        base + "dev/token", data=b'{"user": "42"}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        token = json.loads(resp.read())["token"]
    assert jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"])["sub"] == "42"


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    import socket

    from devstack.ports import ephemeral_range, free_port

    low, _ = ephemeral_range()
    for _ in range(20):
        port = free_port()
        assert 1024 < port < low
        with socket.socket() as sock:
            sock.bind(("0.0.0.0", port))
