"""Helpers for the fcm-fake tests (imported by name: the conftest puts this folder on sys.path)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import firebase_admin
import jwt
import requests
from fcm_fake.runner import FakeHandle
from fcm_fake.sdk import point_sdk_at
from firebase_admin import credentials, messaging


def new_app(fake: FakeHandle, account: Path) -> firebase_admin.App:
    # Pointed per app: another module's fake may have set the (process-wide) URL meanwhile.
    point_sdk_at(fake.base_url)
    return firebase_admin.initialize_app(credentials.Certificate(str(account)), name=uuid.uuid4().hex)


def message(target: str) -> messaging.Message:
    return messaging.Message(fid=target, notification=messaging.Notification(title="t", body="b"))


def access_token(fake: FakeHandle, account: Path) -> str:
    """A bearer token from the fake, fetched the way google-auth does (RS256 assertion)."""
    info = json.loads(account.read_text())
    claims = {"iss": info["client_email"], "aud": "https://oauth2.googleapis.com/token", "exp": 2**31}
    assertion = jwt.encode(claims, info["private_key"], algorithm="RS256")
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    resp = requests.post(f"{fake.base_url}/token", data=grant, timeout=5)
    resp.raise_for_status()
    return str(resp.json()["access_token"])
