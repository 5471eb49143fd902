"""Dead letters: list, show, replay (once) and purge entries of the dead-letter stream.

An entry has `meta` (DeadLetter JSON: where it came from and why) and the original fields
prefixed `o:` (notify_common.consumer). Replay appends the original fields to the source stream
and deletes the dead letter in one Lua script, and leaves a marker (dead id -> new id), so
running the same replay twice adds the entry once.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import redis.asyncio as redis_async
from notify_common.consumer import DEAD_META_FIELD, ORIGINAL_FIELD_PREFIX
from notify_common.keys import Keys
from notify_common.schemas import FIELD_EVENT, DeadLetter

REPLAY_SCOPE = "replay"
REPLAY_MARKER_TTL_S = 30 * 86_400
REPLAY_FIELD = b"replay_of"
"""Added to a replayed entry: the dead-letter id it came from (consumers ignore extra fields)."""

# KEYS: marker, dead stream, source stream. ARGV: dead id, marker ttl, field, value, ...
# One script, so a replay that runs twice (or crashes half-way) never adds the entry twice.
_REPLAY = """
local done = redis.call('GET', KEYS[1])
if done then return {0, done} end
if #redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1]) == 0 then return {-1, ''} end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local new_id = redis.call('XADD', KEYS[3], '*', unpack(fields))
redis.call('SET', KEYS[1], new_id, 'EX', tonumber(ARGV[2]))
redis.call('XDEL', KEYS[2], ARGV[1])
return {1, new_id}
"""


class DeadLetterMissing(LookupError):
    """No dead letter with that id (never existed, purged, or already replayed)."""


@dataclass(frozen=True)
class DeadEntry:
    """One dead letter: its id, why and where from, and the original fields."""

    id: str
    meta: DeadLetter | None
    original: dict[bytes, bytes]
    raw_meta: bytes


@dataclass(frozen=True)
class ReplayResult:
    """What one replay did: `new_id` on the source stream; `already` if an earlier run did it."""

    dead_id: str
    new_id: str
    already: bool


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadEntry:
    """A dead-letter stream entry; a `meta` that does not decode is kept raw (meta=None)."""
    raw_meta = fields.get(DEAD_META_FIELD, b"")
    try:
        meta: DeadLetter | None = msgspec.json.decode(raw_meta, type=DeadLetter)
    except msgspec.DecodeError:
        meta = None
    original = {
        name[len(ORIGINAL_FIELD_PREFIX) :]: value
        for name, value in fields.items()
        if name.startswith(ORIGINAL_FIELD_PREFIX)
    }
    return DeadEntry(_text(entry_id), meta, original, raw_meta)


async def list_dead(client: redis_async.Redis, keys: Keys, count: int, newest_first: bool) -> list[DeadEntry]:
    """Up to `count` dead letters, oldest (or newest) first."""
    if newest_first:
        rows = await client.xrevrange(keys.dead_letters, count=count)
    else:
        rows = await client.xrange(keys.dead_letters, count=count)
    return [parse_entry(i, f) for i, f in rows]


async def get_dead(client: redis_async.Redis, keys: Keys, dead_id: str) -> DeadEntry:
    """One dead letter by id."""
    rows = await client.xrange(keys.dead_letters, dead_id, dead_id)
    if not rows:
        raise DeadLetterMissing(dead_id)
    return parse_entry(*rows[0])


def replay_fields(entry: DeadEntry) -> dict[bytes, bytes]:
    """The fields to append to the source stream.

    An ingress event without `id` takes its id from its stream entry id; a replay would give it a
    new one, so it gets `evt-<original entry id>` and stays the same notification (consumers
    deduplicate by notification id).
    """
    fields = dict(entry.original)
    event = fields.get(FIELD_EVENT)
    if event is not None and entry.meta is not None:
        try:
            doc = msgspec.json.decode(event)
        except msgspec.DecodeError:
            doc = None
        if isinstance(doc, dict) and not doc.get("id"):
            doc["id"] = f"evt-{entry.meta.source_id}"
            fields[FIELD_EVENT] = msgspec.json.encode(doc)
    fields[REPLAY_FIELD] = entry.id.encode()
    return fields


async def replay(client: redis_async.Redis, keys: Keys, dead_id: str) -> ReplayResult:
    """Put a dead letter's original fields back on its source stream, once."""
    marker = keys.seen(REPLAY_SCOPE, dead_id)
    done = await client.get(marker)
    if done is not None:
        return ReplayResult(dead_id, _text(done), already=True)
    entry = await get_dead(client, keys, dead_id)
    if entry.meta is None or not entry.original:
        raise DeadLetterMissing(f"{dead_id} has no readable source stream or original fields")
    args: list[bytes | str | int] = [dead_id, REPLAY_MARKER_TTL_S]
    for name, value in replay_fields(entry).items():
        args += [name, value]
    status, new_id = await client.eval(_REPLAY, 3, marker, keys.dead_letters, entry.meta.source_stream, *args)
    if int(status) < 0:
        raise DeadLetterMissing(dead_id)
    return ReplayResult(dead_id, _text(new_id), already=int(status) == 0)


async def purge(client: redis_async.Redis, keys: Keys, dead_ids: list[str]) -> int:
    """Delete dead letters by id; returns how many existed."""
    return int(await client.xdel(keys.dead_letters, *dead_ids)) if dead_ids else 0


async def purge_all(client: redis_async.Redis, keys: Keys) -> int:
    """Delete every dead letter; returns how many there were."""
    count = int(await client.xlen(keys.dead_letters))
    await client.xtrim(keys.dead_letters, maxlen=0)
    return count
