"""The service refuses to start, with one clear line, when it has no way to send."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.fleet import DEV_JWT_SECRET


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "FIREBASE_", "FCM_", "CLOUDSDK_"))
    }
    clean.update(
        HOME=str(tmp_path),  # no gcloud user credentials
        NO_GCE_CHECK="True",  # google-auth: do not probe a metadata server
        REDIS_URL="redis://127.0.0.1:1/0",
        JWT_SECRET=DEV_JWT_SECRET,
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "push_worker"], env=clean, capture_output=True, text=True, timeout=60
    )


def test_no_credentials_and_no_fake_refuses_to_start(tmp_path: Path) -> None:
    result = start(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: FIREBASE_CREDENTIALS: not set and no application-default credentials found; "
        "set it to a service-account file or its JSON (or run `make run` for the local fake FCM)"
    ]


def test_credentials_that_are_not_a_service_account_are_refused_without_echoing_them(tmp_path: Path) -> None:
    result = start(tmp_path, FIREBASE_CREDENTIALS='{"type": "authorized_user", "secret": "s3cr3t"}')
    assert result.returncode == 2
    assert "FIREBASE_CREDENTIALS: not a usable service account" in result.stderr
    assert "s3cr3t" not in result.stderr
