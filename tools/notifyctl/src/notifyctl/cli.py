"""`notifyctl`: argument parsing, which Redis to talk to, and running one command."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version

import redis.asyncio as redis_async
from notify_common.config import ConfigError, load_config, redact_url, validate_redis_url
from notify_common.consumer import REDIS_DOWN_ERRORS
from notify_common.keys import Keys
from notify_common.redis_conn import connect

from notifyctl.commands import cmd_exporter, cmd_lag, cmd_publish, cmd_stuck, cmd_user
from notifyctl.config import CtlConfig
from notifyctl.dead_commands import cmd_dead_list, cmd_dead_purge, cmd_dead_replay, cmd_dead_show
from notifyctl.output import note

Command = Callable[[redis_async.Redis, Keys, argparse.Namespace], Awaitable[int]]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SCAN_LIMIT = 100_000
TARGET_HELP = (
    "The fleet's Redis comes from --redis-url, else $REDIS_URL; notifyctl says which on stderr. "
    f"Without either, read-only commands use {DEFAULT_REDIS_URL}, and commands that write "
    "(publish, dead replay, dead purge) refuse to run."
)


@dataclass(frozen=True)
class Target:
    """The Redis a command talks to, and where that choice came from."""

    url: str
    source: str
    """'--redis-url', 'REDIS_URL' or '' (the default: nothing was given)."""

    def describe(self) -> str:
        origin = (
            f"from {self.source}" if self.source else "the default: neither REDIS_URL nor --redis-url is set"
        )
        return f"Redis {redact_url(self.url)} ({origin})"


def redis_target(flag: str | None, cfg: CtlConfig) -> Target:
    if flag:
        return Target(flag, "--redis-url")
    if cfg.redis_url:
        return Target(cfg.redis_url, "REDIS_URL")
    return Target(DEFAULT_REDIS_URL, "")


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (`notifyctl --json lag`, `lag --json`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--redis-url", default=argparse.SUPPRESS, help="the fleet's Redis (default: $REDIS_URL)"
    )
    common.add_argument("--prefix", default=argparse.SUPPRESS, help="key prefix (default: $KEY_PREFIX or nf)")
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output on stdout"
    )
    return common


Subcommands = argparse._SubParsersAction  # the type add_subparsers() returns


def _add(
    parent: Subcommands[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    name: str,
    text: str,
    description: str = "",
) -> argparse.ArgumentParser:
    return parent.add_parser(name, help=text, description=description or text, parents=[common])


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="notifyctl",
        description="Operate the notification fleet. Reads REDIS_URL and KEY_PREFIX like the services.",
        epilog=TARGET_HELP,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('notifyctl')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _add(sub, common, "publish", "publish a test notification", "Publish a test notification.")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", action="append", help="recipient user id (repeatable)")
    who.add_argument("--role", help="every user holding this role")
    who.add_argument("--all", action="store_true", help="everyone")
    p.add_argument("--title", default="Test notification")
    p.add_argument("--body", default="Sent with notifyctl.")
    p.add_argument("--type", default="ops.test", help="event type (default ops.test)")
    p.add_argument("--id", help="event id (a retry with the same id reaches each recipient once)")
    p.add_argument("--priority", choices=["low", "normal", "high"])
    p.set_defaults(run=cmd_publish, writes=True)

    p = _add(sub, common, "user", "a user's presence and devices", "Show presence and devices.")
    p.add_argument("user_id")
    p.add_argument("--node-ttl-ms", type=int, help="live-node window (default: $NODE_TTL_MS, as the fleet)")
    p.set_defaults(run=cmd_user)

    p = _add(
        sub,
        common,
        "lag",
        "stream lengths, consumer-group lag and pending entries",
        "Each stream's length; each group's lag (entries not yet read) and pending (read, not acked).",
    )
    p.set_defaults(run=cmd_lag)

    p = _add(
        sub,
        common,
        "stuck",
        "consumers holding pending entries they do not process",
        "Consumers with pending entries idle for --idle-ms or more (exit status 1 if any).",
    )
    p.add_argument("--idle-ms", type=int, help="default: $CLAIM_IDLE_MS or 30000")
    p.set_defaults(run=cmd_stuck)

    dead = _add(sub, common, "dead", "dead letters: list, show, replay, purge", "Dead letters.")
    dsub = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION")
    p = _add(
        dsub,
        common,
        "list",
        "list dead letters grouped by the entry they came from",
        "Each problem: the source entry (and event id), the groups that "
        "dead-lettered it and why. Router and history both read ingress, so one bad event is one "
        "problem with two dead letters.",
    )
    p.add_argument("--count", type=int, default=50, help="problems shown (default 50)")
    p.add_argument("--newest", action="store_true", help="newest first")
    p.add_argument("--scan", type=int, default=SCAN_LIMIT, help=f"dead letters read at most ({SCAN_LIMIT})")
    p.set_defaults(run=cmd_dead_list)
    p = _add(dsub, common, "show", "one dead letter in full", "Show one dead letter in full.")
    p.add_argument("id")
    p.set_defaults(run=cmd_dead_show)
    p = _add(
        dsub,
        common,
        "replay",
        "put dead letters back on their source stream, once",
        "Append each dead letter's original fields to its source stream and delete it, "
        "with the other dead letters of the same entry (the one append reaches all their groups); "
        "replaying the same id again does nothing. Without ids: the oldest --limit problems.",
    )
    p.add_argument("ids", nargs="*")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--scan", type=int, default=SCAN_LIMIT, help=argparse.SUPPRESS)
    p.set_defaults(run=cmd_dead_replay, writes=True)
    p = _add(dsub, common, "purge", "delete dead letters", "Delete dead letters for good.")
    p.add_argument("ids", nargs="*")
    p.add_argument("--all", action="store_true", help="every dead letter (needs --yes)")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(run=cmd_dead_purge, writes=True)
    p = _add(
        sub,
        common,
        "exporter",
        "serve stream length, lag and pending as Prometheus metrics",
        "Serve nf_stream_length, nf_stream_group_lag, nf_stream_group_pending and "
        "nf_stream_group_consumers on /metrics (read from Redis on each scrape) until SIGTERM.",
    )
    p.add_argument("--port", type=int, help="default: $OPS_PORT or 9109")
    p.set_defaults(run=cmd_exporter)
    return parser


def _name(args: argparse.Namespace) -> str:
    return " ".join(n for n in (args.command, getattr(args, "dead_command", None)) if n)


async def _run(args: argparse.Namespace) -> int:
    cfg = load_config(CtlConfig)
    target = redis_target(getattr(args, "redis_url", None), cfg)
    validate_redis_url(target.url)
    keys = Keys(getattr(args, "prefix", None) or cfg.key_prefix, cfg.stream_shards)
    if getattr(args, "writes", False) and not target.source:
        note(
            f"`{_name(args)}` changes the fleet's data: name its Redis with REDIS_URL or --redis-url "
            f"(it does not fall back to {DEFAULT_REDIS_URL})"
        )
        return 2
    note(f"{target.describe()}, key prefix {keys.prefix}")
    args.cfg = cfg
    args.json = getattr(args, "json", False)
    if getattr(args, "idle_ms", 0) is None:
        args.idle_ms = cfg.claim_idle_ms
    if getattr(args, "node_ttl_ms", 0) is None:
        args.node_ttl_ms = cfg.node_ttl_ms
    client = connect(target.url)
    try:
        command: Command = args.run
        return await command(client, keys, args)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:
        note(str(exc))
        return 2
    except REDIS_DOWN_ERRORS as exc:
        note(f"cannot reach Redis: {exc}")
        return 3
