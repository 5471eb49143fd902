"""Helpers shared by the push-worker tests (on sys.path through conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as redis_async
from devstack.fleet import DEV_JWT_SECRET
from devstack.ports import free_port
from devstack.procs import ServiceProcess
from fcm_fake.behaviours import Behaviour
from fcm_fake.credentials import write_service_account
from fcm_fake.runner import FakeHandle, start_in_thread
from notify_common.config import load_config
from notify_common.consumer import Entry, Outcome
from notify_common.dead_letters import dead_letter_meta, original_fields
from notify_common.keys import Keys
from notify_common.schemas import (
    FIELD_JOB,
    FIELD_RECEIPT,
    DeadLetter,
    Notification,
    PushJob,
    Receipt,
    encode,
)
from push_worker.config import PushConfig
from push_worker.fcm import Fcm, close_app, init_app, load_credential
from push_worker.jobs import JobHandler
from push_worker.retries import send_due_retries
from push_worker.sender import build_sender

NOW_MS = 1_800_000_000_000


def push_config(keys: Keys, **env: str) -> PushConfig:
    return load_config(PushConfig, {"JWT_SECRET": DEV_JWT_SECRET, "KEY_PREFIX": keys.prefix, **env})


def notification(notification_id: str = "n1", **fields: Any) -> Notification:
    base: dict[str, Any] = {
        "id": notification_id,
        "type": "order.shipped",
        "title": "Shipped",
        "created_ms": NOW_MS,
    }
    return msgspec.convert({**base, **fields}, Notification)


def job_entry(entry_id: str, job: PushJob, extra: Mapping[bytes, bytes] | None = None) -> Entry:
    return Entry(entry_id, {FIELD_JOB: encode(job), **(extra or {})})


async def receipts(client: redis_async.Redis, keys: Keys) -> list[Receipt]:
    entries = await client.xrange(keys.receipts)
    return [msgspec.json.decode(fields[FIELD_RECEIPT], type=Receipt) for _, fields in entries]


def users_job(*user_ids: str, entry_id: str = "1-0", notification_id: str = "n1") -> Entry:
    """A job entry pushing the test notification to every device of these users."""
    return job_entry(entry_id, PushJob(notification=notification(notification_id), user_ids=list(user_ids)))


@dataclass(frozen=True)
class Dead:
    meta: DeadLetter
    original: dict[bytes, bytes]


async def dead_letters(client: redis_async.Redis, keys: Keys) -> list[Dead]:
    """Each dead letter: where it came from and why, and the original entry's fields."""
    dead = []
    for _, fields in await client.xrange(keys.dead_letters):
        meta = dead_letter_meta(fields)
        assert meta is not None
        dead.append(Dead(meta, original_fields(fields)))
    return dead


# --- a push-worker in this process, wired like the service, for outcome tests ---------------
TEST_ENV = {
    "FCM_BATCH_SIZE": "2",
    "FCM_MAX_IN_FLIGHT": "1",
    "FCM_TIMEOUT_S": "1",
    "BREAKER_FAILURES": "3",
    "BREAKER_OPEN_S": "0.2",
    "PUSH_MAX_ATTEMPTS": "3",
    "PUSH_RETRY_BASE_S": "0.02",
    "PUSH_RETRY_MAX_S": "0.05",
}


class CountingFcm(Fcm):
    """The real SDK path, counting batches (to see batching, not to replace anything)."""

    batches: int = 0

    async def send(self, batch: list[Any]) -> list[BaseException | None]:
        self.batches += 1
        return await super().send(batch)


class Worker:
    """Sender, job handler and retries of one push-worker, driven step by step by a test."""

    def __init__(self, cfg: PushConfig, client: redis_async.Redis, keys: Keys) -> None:
        self.cfg = cfg
        self.fcm = CountingFcm(init_app(cfg, load_credential(cfg)))
        self.sender = build_sender(cfg, client, keys, self.fcm)
        self.handler = JobHandler(self.sender, asyncio.Event())

    async def handle(self, *entries: Entry) -> Outcome:
        return await self.handler(list(entries))

    def fcm_batches(self) -> int:
        return self.fcm.batches

    async def run_retries_until(
        self,
        done: Callable[[], bool],
        until_redis: Callable[[], Awaitable[bool]] | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        """Send due retries (as the retry loop does) until `done()` or `until_redis()` is true."""
        deadline = time.monotonic() + timeout_s
        while not done() and not (until_redis is not None and await until_redis()):
            assert time.monotonic() < deadline, "retries did not get there in time"
            await send_due_retries(self.sender)
            await asyncio.sleep(0.02)

    def expire_access_token(self) -> None:
        """Make the SDK fetch a new OAuth token on its next send."""
        credential = self.fcm.google_credential()
        credential.token = None
        credential.expiry = None

    async def close(self) -> None:
        await close_app(self.fcm.app)


def worker_process(
    redis_url: str, keys: Keys, fcm: FakeFcm, workdir: Path, node_id: str, env: Mapping[str, str]
) -> ServiceProcess:
    """`python -m push_worker` against the fake FCM (start it with `.start().wait_ready()`)."""
    ops_port = free_port()
    settings = {
        "REDIS_URL": redis_url,
        "KEY_PREFIX": keys.prefix,
        "NODE_ID": node_id,
        "OPS_PORT": str(ops_port),
        "API_PORT": "0",
        "JWT_SECRET": DEV_JWT_SECRET,
        "FIREBASE_CREDENTIALS": str(fcm.service_account),
        "FCM_BASE_URL": fcm.base_url,
        "CLAIM_IDLE_MS": "2000",
        "PUSH_RETRY_POLL_S": "0.1",
        "LOG_FORMAT": "console",
        **env,
    }
    return ServiceProcess(node_id, "push_worker", settings, ops_port, workdir / f"{node_id}.log")


# --- the fake FCM (tools/fcm-fake), scripted by tests -----------------------------------------
class FakeFcm:
    """The fake FCM in this process, with the handful of verbs the tests use."""

    def __init__(self, handle: FakeHandle, service_account: Path) -> None:
        self.handle = handle
        self.base_url = handle.base_url
        self.service_account = service_account

    @classmethod
    def start(cls, workdir: Path) -> FakeFcm:
        handle = start_in_thread()
        return cls(handle, write_service_account(workdir / "fake-sa.json", handle.base_url))

    def stop(self) -> None:
        self.handle.stop()

    def reset(self) -> None:
        self.handle.state.script.reset()
        self.handle.state.refuse_oauth = False
        self.handle.state.clear()

    def script(self, kind: str, *, token: str = "", retry_after_s: int = 1, delay_s: float = 0.0) -> None:
        """Answer `kind` (fcm_fake behaviour) for one token, or for every target without `token`."""
        behaviour = Behaviour(kind, retry_after_s=retry_after_s, delay_ms=int(delay_s * 1000))  # type: ignore[arg-type]
        if token:
            self.handle.state.script.set_for(token, behaviour)
        else:
            self.handle.state.script.set_default(behaviour)

    def refuse_oauth(self, refuse: bool = True) -> None:
        self.handle.state.refuse_oauth = refuse

    def messages_received(self) -> list[dict[str, Any]]:
        """Bodies of the messages FCM accepted (a slow answer counts: FCM got the message)."""
        return [m.message for m in self.handle.state.received() if m.outcome in ("ok", "slow")]

    def tokens_received(self) -> list[str]:
        return [m.target for m in self.handle.state.received() if m.outcome in ("ok", "slow")]

    def requests_seen(self) -> int:
        return len(self.handle.state.received())
