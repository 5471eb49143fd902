"""`notifyctl dead …`: list dead letters as problems, show one, replay, purge."""

from __future__ import annotations

import argparse
import json
from typing import Any

import redis.asyncio as redis_async
from notify_common.keys import Keys

from notifyctl import dead_letters
from notifyctl.dead_letters import DeadEntry, Problem
from notifyctl.output import note, out, out_json


def _letter_json(e: DeadEntry) -> dict[str, Any]:
    if e.meta is None:
        return {"id": e.id, "unreadable_meta": e.raw_meta.decode(errors="replace")}
    m = e.meta
    return {
        "id": e.id,
        "group": m.group,
        "consumer": m.consumer,
        "reason": m.reason,
        "deliveries": m.deliveries,
        "at_ms": m.at_ms,
    }


def _problem_json(p: Problem) -> dict[str, Any]:
    return {
        "source_stream": p.source_stream,
        "source_id": p.source_id,
        "event_id": p.event_id,
        "groups": p.groups,
        "reasons": [{"reason": r, "groups": g} for r, g in p.reasons().items()],
        "dead_letters": [_letter_json(e) for e in p.letters],
    }


def _problem_lines(p: Problem) -> list[str]:
    ids = " ".join(e.id for e in p.letters)
    if p.source_stream is None:
        return [f"{ids}  (unreadable meta: {p.letters[0].raw_meta[:60]!r})"]
    event = f"  event {p.event_id}" if p.event_id else ""
    lines = [
        f"{p.source_stream} {p.source_id}{event}",
        f"  refused by {', '.join(p.groups)}  (dead letter{'s' if len(p.letters) > 1 else ''} {ids})",
    ]
    lines += [f"  {', '.join(groups)}: {reason[:200]}" for reason, groups in p.reasons().items()]
    return lines


async def cmd_dead_list(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    entries, more = await dead_letters.scan_dead(client, keys, args.newest, args.scan)
    found = dead_letters.problems(entries)
    total = int(await client.xlen(keys.dead_letters))
    if more:
        which = "newest" if args.newest else "oldest"
        note(f"read the {which} {len(entries)} of {total} dead letters (--scan)")
    if args.json:
        out_json(
            {
                "stream": keys.dead_letters,
                "dead_letters": total,
                "problems": [_problem_json(p) for p in found[: args.count]],
                "complete": not more and len(found) <= args.count,
            }
        )
        return 0
    out(f"{total} dead letter(s) in {keys.dead_letters}: {len(found)} problem(s){'+' if more else ''}")
    for p in found[: args.count]:
        out()
        for line in _problem_lines(p):
            out(line)
    if len(found) > args.count:
        out(f"\n… {len(found) - args.count} more problem(s) (--count)")
    return 0


async def cmd_dead_show(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    try:
        entry = await dead_letters.get_dead(client, keys, args.id)
    except dead_letters.DeadLetterMissing:
        note(f"no dead letter {args.id}")
        return 1
    meta: Any = (
        json.loads(entry.raw_meta) if entry.meta is not None else entry.raw_meta.decode(errors="replace")
    )
    original = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in entry.original.items()}
    out_json({"id": entry.id, "meta": meta, "original": original})
    return 0


async def cmd_dead_replay(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    entries, _ = await dead_letters.scan_dead(client, keys, False, args.scan)
    found = dead_letters.problems(entries)
    if args.ids:
        problem_of = {e.id: p for p in found for e in p.letters}
        todo = [(i, [e.id for e in problem_of[i].letters] if i in problem_of else []) for i in args.ids]
    else:
        todo = [(p.letters[0].id, [e.id for e in p.letters]) for p in found[: args.limit]]
    replayed: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for dead_id, siblings in todo:
        try:
            result = await dead_letters.replay(client, keys, dead_id, siblings)
        except dead_letters.DeadLetterMissing as exc:
            note(f"cannot replay: {exc}")
            failed.append({"dead_id": dead_id, "error": str(exc)})
            continue
        replayed.append(
            {
                "dead_id": dead_id,
                "new_id": result.new_id,
                "already": result.already,
                "cleared": result.cleared,
            }
        )
        if not args.json:
            verb = "already replayed as" if result.already else "replayed as"
            cleared = f" (cleared its sibling {' '.join(result.cleared)})" if result.cleared else ""
            out(f"{dead_id} {verb} {result.new_id}{cleared}")
    if args.json:
        out_json({"replayed": replayed, "failed": failed})
    return 1 if failed else 0


async def cmd_dead_purge(client: redis_async.Redis, keys: Keys, args: argparse.Namespace) -> int:
    if args.all:
        if not args.yes:
            note("purge --all deletes every dead letter; add --yes")
            return 2
        purged = await dead_letters.purge_all(client, keys)
    elif not args.ids:
        note("give dead-letter ids, or --all --yes")
        return 2
    else:
        purged = await dead_letters.purge(client, keys, args.ids)
    if args.json:
        out_json({"purged": purged})
    else:
        out(f"purged {purged} dead letter(s)")
    return 0
