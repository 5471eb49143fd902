"""Fixtures: a fake on its own thread per module, and firebase apps that are always deleted."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import firebase_admin
import pytest
from fcm_fake.credentials import write_service_account
from fcm_fake.runner import FakeHandle, start_in_thread
from firebase_admin import messaging

# Tests import their shared helpers (fcm_testkit) by name; pytest's importlib mode does not.
sys.path.insert(0, str(Path(__file__).parent))

from fcm_testkit import new_app


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeHandle]:
    with start_in_thread() as handle:
        yield handle


@pytest.fixture
def service_account(fake: FakeHandle, tmp_path: Path) -> Path:
    fake.state.script.reset()
    fake.state.clear()
    with fake.state.lock:
        fake.state.refuse_oauth = False
    return write_service_account(tmp_path / "sa.json", fake.base_url)


@pytest.fixture
async def app(fake: FakeHandle, service_account: Path) -> AsyncIterator[firebase_admin.App]:
    """An app for send_each_async: its httpx client is bound to this test's loop."""
    app = new_app(fake, service_account)
    try:
        yield app
    finally:
        # delete_app closes the async client with asyncio.run(), a RuntimeError inside a running
        # loop: close the client on its own loop here, then delete the app from a thread.
        await messaging._get_messaging_service(app)._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, app)


@pytest.fixture
def sync_app(fake: FakeHandle, service_account: Path) -> Iterator[firebase_admin.App]:
    """An app for the blocking messaging.send (no event loop running)."""
    app = new_app(fake, service_account)
    try:
        yield app
    finally:
        try:
            firebase_admin.delete_app(app)
        except RuntimeError:  # the notes' advice; not seen without a running loop
            pass
