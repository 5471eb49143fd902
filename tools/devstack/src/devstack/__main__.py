"""`python -m devstack`: run the whole fleet locally until Ctrl-C (what `make run` does).

`python -m devstack token --user 7 --roles driver` prints a development JWT for any user.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from devstack.banner import banner
from devstack.fleet import DEV_JWT_SECRET, Fleet, dev_token
from devstack.ports import PortBusy
from devstack.redis_server import RedisMissing, RedisServer, start_redis


def run(free_ports: bool) -> int:
    workdir = Path(os.environ.get("RUN_DIR", "run")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    # Before anything starts: every child runs in a session of its own, so Ctrl-C reaches only
    # this process, which stops the services first and Redis last.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    redis: RedisServer | None = None
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        try:
            redis = start_redis()
        except RedisMissing as exc:
            print(exc, file=sys.stderr)
            return 1
        redis_url = redis.url
    # Real credentials in the environment switch the fake FCM off (the push-worker reads them).
    fleet = Fleet(
        redis_url,
        workdir,
        fake_fcm=not os.environ.get("FIREBASE_CREDENTIALS"),
        fixed_ports=not free_ports,
        inbox_page=True,
    )
    try:
        try:
            fleet.start()
        except PortBusy as exc:
            print(exc, file=sys.stderr)
            return 1
        print(banner(fleet, redis_url, throwaway_redis=redis is not None), flush=True)
        while not stopping:
            dead = [n for n, p in fleet.processes.items() if p.process and p.process.poll() is not None]
            if dead:
                print(
                    f"stopped unexpectedly: {', '.join(dead)} (logs in {workdir / 'logs'})", file=sys.stderr
                )
                return 1
            time.sleep(0.2)
        print("\nstopping the fleet…", flush=True)
        return 0
    finally:
        statuses = fleet.stop()
        if statuses:
            print("stopped:", ", ".join(f"{n}={s}" for n, s in statuses.items()), flush=True)
        if redis is not None:
            redis.stop()
            print("stopped: redis", flush=True)


def token(args: argparse.Namespace) -> int:
    roles = [r for given in args.roles for r in given.split(",") if r]
    topics = [t for given in args.topics for t in given.split(",") if t]
    secret = os.environ.get("JWT_SECRET") or DEV_JWT_SECRET
    print(dev_token(args.user, roles, ttl_s=args.ttl, secret=secret, topics=topics))
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description="Run the whole fleet locally until Ctrl-C (`make run`)."
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="let the OS pick every port instead of the documented ones (docs/operations.md#ports)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "token",
        help="print a development user JWT",
        description="Print an HS256 user JWT signed with $JWT_SECRET (default: the dev secret every "
        "local fleet, compose and the dev overlay use). Development only.",
    )
    p.add_argument("--user", required=True, help="the user id (`sub` claim)")
    p.add_argument("--roles", action="append", default=[], help="roles, comma-separated or repeated")
    p.add_argument("--topics", action="append", default=[], help="topics the token allows (`*`: any)")
    p.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "token":
        return token(args)
    return run(args.free_ports)


if __name__ == "__main__":
    sys.exit(main())
