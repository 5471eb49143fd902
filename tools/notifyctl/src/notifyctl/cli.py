"""`notifyctl`: argument parsing and one small function per command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis_async
from notify_common import devices, presence
from notify_common.config import ConfigError, load_config, validate_redis_url
from notify_common.consumer import REDIS_DOWN_ERRORS
from notify_common.keys import Keys
from notify_common.publish import build_event, publish
from notify_common.schemas import BadEntry

from notifyctl import dead_letters, exporter, streams
from notifyctl.config import CtlConfig

Command = Callable[[redis_async.Redis, Keys, argparse.Namespace], Awaitable[int]]


def out(line: str = "") -> None:
    print(line)


async def cmd_publish(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    if args.user:
        audience: dict[str, Any] = {"kind": "users", "ids": args.user}
    elif args.role:
        audience = {"kind": "role", "role": args.role}
    else:
        audience = {"kind": "all"}
    fields: dict[str, Any] = {"type": args.type, "audience": audience, "title": args.title, "body": args.body}
    if args.id:
        fields["id"] = args.id
    if args.priority:
        fields["priority"] = args.priority
    try:
        event = build_event(**fields)
    except BadEntry as exc:
        print(f"notifyctl: {exc}", file=sys.stderr)
        return 2
    entry_id = await publish(client, event, prefix=keys.prefix)
    out(f"published {entry_id} to {keys.ingress}")
    return 0


async def cmd_user(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    nodes = await presence.user_presence(client, keys, args.user_id, node_ttl_ms=args.node_ttl_ms)
    found = await devices.devices_of_user(client, keys, args.user_id)
    state = "online" if nodes else "offline"
    out(f"user {args.user_id}: {state}, {sum(nodes.values())} connection(s)")
    for node, count in sorted(nodes.items()):
        out(f"  node {node}: {count}")
    out(f"devices: {len(found)}")
    for d in found:
        out(f"  {d.platform:8} last seen {d.last_seen_ms} ms  token {d.token[:12]}…")
    return 0


async def cmd_lag(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    report = await streams.fleet_streams(client, keys)
    if args.json:
        out(json.dumps([_stream_json(s) for s in report], indent=2))
        return 0
    out(f"{'stream':40} {'length':>8}  {'group':14} {'lag':>8} {'pending':>8}  consumers")
    for s in report:
        if not s.groups:
            out(f"{s.name:40} {s.length:>8}  {'-':14}")
        for g in s.groups:
            lag = "?" if g.lag is None else str(g.lag)
            out(f"{s.name:40} {s.length:>8}  {g.name:14} {lag:>8} {g.pending:>8}  {len(g.consumers)}")
    return 0


def _stream_json(s: streams.StreamInfo) -> dict[str, Any]:
    return {
        "stream": s.name,
        "length": s.length,
        "groups": [
            {
                "group": g.name,
                "lag": g.lag,
                "pending": g.pending,
                "last_delivered_id": g.last_delivered_id,
                "consumers": [
                    {"name": c.name, "pending": c.pending, "idle_ms": c.idle_ms} for c in g.consumers
                ],
            }
            for g in s.groups
        ],
    }


async def cmd_stuck(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    report = await streams.fleet_streams(client, keys)
    stuck = streams.stuck_consumers(report, args.idle_ms)
    if not stuck:
        out(f"no consumer holds pending entries idle for {args.idle_ms} ms or more")
        return 0
    out(f"{'stream':40} {'group':14} {'consumer':24} {'pending':>8} {'idle ms':>10}")
    for stream, group, c in stuck:
        out(f"{stream:40} {group:14} {c.name:24} {c.pending:>8} {c.idle_ms:>10}")
    return 1


async def cmd_dead_list(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    entries = await dead_letters.list_dead(client, keys, args.count, args.newest)
    total = int(await client.xlen(keys.dead_letters))
    out(f"{total} dead letter(s) in {keys.dead_letters}")
    for e in entries:
        if e.meta is None:
            out(f"{e.id}  (unreadable meta: {e.raw_meta[:60]!r})")
            continue
        out(f"{e.id}  {e.meta.source_stream} {e.meta.source_id} group={e.meta.group}  {e.meta.reason[:100]}")
    return 0


async def cmd_dead_show(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    try:
        entry = await dead_letters.get_dead(client, keys, args.id)
    except dead_letters.DeadLetterMissing:
        print(f"notifyctl: no dead letter {args.id}", file=sys.stderr)
        return 1
    meta: Any = (
        json.loads(entry.raw_meta) if entry.meta is not None else entry.raw_meta.decode(errors="replace")
    )
    original = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in entry.original.items()}
    out(json.dumps({"id": entry.id, "meta": meta, "original": original}, indent=2))
    return 0


async def cmd_dead_replay(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    ids = args.ids or [e.id for e in await dead_letters.list_dead(client, keys, args.limit, False)]
    failed = 0
    for dead_id in ids:
        try:
            result = await dead_letters.replay(client, keys, dead_id)
        except dead_letters.DeadLetterMissing as exc:
            print(f"notifyctl: cannot replay: {exc}", file=sys.stderr)
            failed += 1
            continue
        verb = "already replayed as" if result.already else "replayed as"
        out(f"{dead_id} {verb} {result.new_id}")
    return 1 if failed else 0


async def cmd_dead_purge(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    if args.all:
        if not args.yes:
            print("notifyctl: purge --all deletes every dead letter; add --yes", file=sys.stderr)
            return 2
        out(f"purged {await dead_letters.purge_all(client, keys)} dead letter(s)")
        return 0
    if not args.ids:
        print("notifyctl: give dead-letter ids, or --all --yes", file=sys.stderr)
        return 2
    out(f"purged {await dead_letters.purge(client, keys, args.ids)} dead letter(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notifyctl",
        description="Operate the notification fleet. Reads REDIS_URL and KEY_PREFIX like the services.",
    )
    parser.add_argument("--redis-url", help="the fleet's Redis (default: $REDIS_URL)")
    parser.add_argument("--prefix", help="key prefix (default: $KEY_PREFIX or nf)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "publish", help="publish a test notification", description="Publish a test notification."
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", action="append", help="recipient user id (repeatable)")
    who.add_argument("--role", help="every user holding this role")
    who.add_argument("--all", action="store_true", help="everyone")
    p.add_argument("--title", default="Test notification")
    p.add_argument("--body", default="Sent with notifyctl.")
    p.add_argument("--type", default="ops.test", help="event type (default ops.test)")
    p.add_argument("--id", help="event id (a retry with the same id reaches each recipient once)")
    p.add_argument("--priority", choices=["low", "normal", "high"])
    p.set_defaults(run=cmd_publish)

    p = sub.add_parser("user", help="a user's presence and devices", description="Show presence and devices.")
    p.add_argument("user_id")
    p.add_argument("--node-ttl-ms", type=int, default=presence.DEFAULT_NODE_TTL_MS, help="live-node window")
    p.set_defaults(run=cmd_user)

    p = sub.add_parser(
        "lag",
        help="stream lengths, consumer-group lag and pending entries",
        description="Each stream's length; each group's lag (entries not yet read) and pending "
        "(read, not acked).",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_lag)

    p = sub.add_parser(
        "stuck",
        help="consumers holding pending entries they do not process",
        description="Consumers with pending entries idle for --idle-ms or more (exit status 1 if any).",
    )
    p.add_argument("--idle-ms", type=int, help="default: $CLAIM_IDLE_MS or 30000")
    p.set_defaults(run=cmd_stuck)

    dead = sub.add_parser("dead", help="dead letters: list, show, replay, purge", description="Dead letters.")
    dsub = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION")
    p = dsub.add_parser("list", help="list dead letters", description="List dead letters with their reasons.")
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--newest", action="store_true", help="newest first")
    p.set_defaults(run=cmd_dead_list)
    p = dsub.add_parser("show", help="one dead letter in full", description="Show one dead letter in full.")
    p.add_argument("id")
    p.set_defaults(run=cmd_dead_show)
    p = dsub.add_parser(
        "replay",
        help="put dead letters back on their source stream, once",
        description="Append each dead letter's original fields to its source stream and delete the dead "
        "letter; replaying the same id again does nothing. Without ids: the oldest --limit.",
    )
    p.add_argument("ids", nargs="*")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(run=cmd_dead_replay)
    p = dsub.add_parser("purge", help="delete dead letters", description="Delete dead letters for good.")
    p.add_argument("ids", nargs="*")
    p.add_argument("--all", action="store_true", help="every dead letter (needs --yes)")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(run=cmd_dead_purge)
    p = sub.add_parser(
        "exporter",
        help="serve stream length, lag and pending as Prometheus metrics",
        description="Serve nf_stream_length, nf_stream_group_lag, nf_stream_group_pending and "
        "nf_stream_group_consumers on /metrics (read from Redis on each scrape) until SIGTERM.",
    )
    p.add_argument("--port", type=int, help="default: $OPS_PORT or 9109")
    p.set_defaults(run=cmd_exporter)
    return parser


async def cmd_exporter(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    cfg: CtlConfig = args.cfg
    port = cfg.ops_port if args.port is None else args.port
    return await exporter.serve(client, keys, cfg.ops_host, port, cfg.metrics_token)


async def _run(args: argparse.Namespace) -> int:
    cfg = load_config(CtlConfig)
    url = args.redis_url or cfg.redis_url
    validate_redis_url(url)
    keys = Keys(args.prefix or cfg.key_prefix)
    args.cfg = cfg
    if getattr(args, "idle_ms", 0) is None:
        args.idle_ms = cfg.claim_idle_ms
    client = redis_async.Redis.from_url(url)
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
        print(f"notifyctl: {exc}", file=sys.stderr)
        return 2
    except REDIS_DOWN_ERRORS as exc:
        print(f"notifyctl: cannot reach Redis: {exc}", file=sys.stderr)
        return 3
