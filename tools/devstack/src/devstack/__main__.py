"""`python -m devstack`: run the whole fleet locally until Ctrl-C (what `make run` does)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from devstack.fleet import Fleet, dev_token
from devstack.redis_server import RedisMissing, RedisServer, start_redis


def main() -> int:
    workdir = Path(os.environ.get("RUN_DIR", "run")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    redis: RedisServer | None = None
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        try:
            redis = start_redis()
        except RedisMissing as exc:
            print(exc, file=sys.stderr)
            return 1
        redis_url = redis.url
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Real credentials in the environment switch the fake FCM off (the push-worker reads them).
    fleet = Fleet(redis_url, workdir, fake_fcm=not os.environ.get("FIREBASE_CREDENTIALS"))
    try:
        fleet.start()
        print_banner(fleet, redis_url)
        while not stopping:
            dead = [n for n, p in fleet.processes.items() if p.process and p.process.poll() is not None]
            if dead:
                print(
                    f"stopped unexpectedly: {', '.join(dead)} (logs in {workdir / 'logs'})", file=sys.stderr
                )
                return 1
            time.sleep(0.5)
        print("\nstopping the fleet…")
        return 0
    finally:
        statuses = fleet.stop()
        if redis is not None:
            redis.stop()
        print("stopped:", ", ".join(f"{n}={s}" for n, s in statuses.items()))


def print_banner(fleet: Fleet, redis_url: str) -> None:
    token = dev_token("42", ["customer"])
    lines = [
        "The notification fleet is running (Ctrl-C stops it).",
        f"  Redis:      {redis_url}",
        *[f"  {name}:  {fleet.gateway_url(name)}" for name in fleet.gateway_ports],
        *[f"  {name} ops: http://127.0.0.1:{p.ops_port}/readyz" for name, p in fleet.processes.items()],
        *([f"  inbox API:  {fleet.inbox_url()}/v1/inbox"] if fleet.history_api_port else []),
        *([f"  device API: {fleet.push_url()}/v1/devices"] if fleet.push_api_port else []),
        *([f"  fake FCM:   {fleet.fcm_url()}/_fake/messages (pushes it received)"] if fleet.fcm else []),
        f"  logs:       {fleet.workdir / 'logs'}",
        "",
        "Connect as user 42 (dev token, valid 1 h):",
        f"  {fleet.gateway_url()}?token={token}",
        *(
            [f"Inbox of user 42:  curl -H 'Authorization: Bearer {token}' {fleet.inbox_url()}/v1/inbox"]
            if fleet.history_api_port
            else []
        ),
        *(
            [
                "Register a push device for user 42:",
                f'  curl -H \'Authorization: Bearer {token}\' -d \'{{"token":"dev-device-1","platform":'
                f'"android"}}\' {fleet.push_url()}/v1/devices',
            ]
            if fleet.push_api_port
            else []
        ),
        "Publish to user 42:",
        f"  redis-cli -u {redis_url} XADD {fleet.key_prefix}:stream:ingress '*' event "
        '\'{"type":"hello","audience":{"kind":"users","ids":["42"]},"title":"Hi"}\'',
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
