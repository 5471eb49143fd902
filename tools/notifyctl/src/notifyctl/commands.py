"""notifyctl's commands on the live fleet: publish, user, lag, stuck, exporter (one function each)."""

from __future__ import annotations

import argparse
from typing import Any

import redis.asyncio as redis_async
from notify_common import devices, presence
from notify_common.keys import Keys
from notify_common.publish import build_event, publish
from notify_common.schemas import BadEntry, notification_id_of
from notify_common.shards import event_shard_key

from notifyctl import exporter, streams
from notifyctl.config import CtlConfig
from notifyctl.output import note, out, out_json


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
        note(str(exc))
        return 2
    entry_id = await publish(client, event, prefix=keys.prefix, shards=keys.shards)
    stream = keys.ingress_for(event_shard_key(event))
    if args.json:
        out_json({"entry_id": entry_id, "stream": stream, "id": notification_id_of(event.id, entry_id)})
    else:
        out(f"published {entry_id} to {stream}")
    return 0


async def cmd_user(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    nodes = await presence.user_presence(client, keys, args.user_id, node_ttl_ms=args.node_ttl_ms)
    found = await devices.devices_of_user(client, keys, args.user_id)
    if args.json:
        out_json(
            {
                "user_id": args.user_id,
                "online": bool(nodes),
                "connections": sum(nodes.values()),
                "nodes": dict(sorted(nodes.items())),
                # A device token addresses the user's phone: show only enough to tell them apart.
                "devices": [
                    {"platform": d.platform, "last_seen_ms": d.last_seen_ms, "token_prefix": d.token[:12]}
                    for d in found
                ],
            }
        )
        return 0
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
        out_json([_stream_json(s) for s in report])
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
    if args.json:
        out_json(
            [
                {
                    "stream": stream,
                    "group": group,
                    "consumer": c.name,
                    "pending": c.pending,
                    "idle_ms": c.idle_ms,
                }
                for stream, group, c in stuck
            ]
        )
        return 1 if stuck else 0
    if not stuck:
        out(f"no consumer holds pending entries idle for {args.idle_ms} ms or more")
        return 0
    out(f"{'stream':40} {'group':14} {'consumer':24} {'pending':>8} {'idle ms':>10}")
    for stream, group, c in stuck:
        out(f"{stream:40} {group:14} {c.name:24} {c.pending:>8} {c.idle_ms:>10}")
    return 1


async def cmd_exporter(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    cfg: CtlConfig = args.cfg
    port = cfg.ops_port if args.port is None else args.port
    return await exporter.serve(client, keys, cfg.ops_host, port, cfg.metrics_token, as_json=args.json)
