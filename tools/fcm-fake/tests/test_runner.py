"""`python -m fcm_fake`, the thread runner, the service-account file and the SDK redirection."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from fcm_fake.credentials import write_service_account
from fcm_fake.runner import start_in_thread
from fcm_fake.sdk import point_sdk_at
from firebase_admin import messaging


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_its_url_writes_the_account_and_stops_on_signal(tmp_path: Path, sig: int) -> None:
    sa_path = tmp_path / "sa.json"
    cmd = [sys.executable, "-m", "fcm_fake", "--port", "0", "--service-account-out", str(sa_path)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()  # bounded by the per-test timeout
            assert line.startswith("fcm-fake listening on http://127.0.0.1:")
            base_url = line.removeprefix("fcm-fake listening on ")
            assert json.loads(sa_path.read_text())["token_uri"] == f"{base_url}/token"
            assert requests.get(f"{base_url}/healthz", timeout=5).json() == {"status": "ok"}
            proc.send_signal(sig)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_stop_is_idempotent_and_frees_the_port() -> None:
    handle = start_in_thread()
    port = int(handle.base_url.rsplit(":", 1)[1])
    handle.stop()
    handle.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_taken_port_fails_start_in_thread_at_once() -> None:
    with start_in_thread() as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        with pytest.raises(RuntimeError, match="could not listen") as raised:
            start_in_thread(port=port)
        assert isinstance(raised.value.__cause__, OSError)


def test_service_account_file_is_private_and_points_at_the_fake(tmp_path: Path) -> None:
    path = write_service_account(tmp_path / "sa.json", "http://127.0.0.1:9", project_id="proj-x")
    info = json.loads(path.read_text())
    assert (info["type"], info["project_id"], info["token_uri"]) == (
        "service_account",
        "proj-x",
        "http://127.0.0.1:9/token",
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    serialization.load_pem_private_key(info["private_key"].encode(), password=None)


def test_point_sdk_at_sets_the_messaging_url() -> None:
    original = messaging._MessagingService.FCM_URL
    try:
        point_sdk_at("http://127.0.0.1:1234/")
        assert messaging._MessagingService.FCM_URL == "http://127.0.0.1:1234/v1/projects/{0}/messages:send"
    finally:
        messaging._MessagingService.FCM_URL = original


def test_point_sdk_at_fails_loudly_if_the_private_name_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands in for a future SDK release without the constant; the real class is restored after.
    monkeypatch.delattr(messaging._MessagingService, "FCM_URL")
    with pytest.raises(RuntimeError, match="FCM_URL is gone"):
        point_sdk_at("http://127.0.0.1:1234")
