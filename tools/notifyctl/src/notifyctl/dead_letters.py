"""Dead letters: list, show, replay (once) and purge entries of the dead-letter stream.

An entry has `meta` (DeadLetter JSON: where it came from and why) and the original fields
prefixed `o:` (notify_common.dead_letters). Replay appends the original fields to the source stream
and deletes the dead letter in one Lua script, and leaves a marker (dead id -> new id), so
running the same replay twice adds the entry once.

Router and history both read the ingress stream, and each dead-letters an event it cannot take,
so one bad event is two dead letters. `problems` groups dead letters by the entry they came from
(one problem: the entry, the event id, the groups that refused it, their reasons), and a replay
clears every dead letter of its problem: the one entry it appends reaches every group again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import redis.asyncio as redis_async
from notify_common.dead_letters import META_FIELD, original_fields
from notify_common.keys import Keys
from notify_common.schemas import FIELD_EVENT, DeadLetter, notification_id_of
from notify_common.stream_ids import after, id_text

REPLAY_SCOPE = "replay"
REPLAY_MARKER_TTL_S = 30 * 86_400
REPLAY_FIELD = b"replay_of"
"""Added to a replayed entry: the dead-letter id it came from (consumers ignore extra fields)."""

SCAN_PAGE = 500

# KEYS: dead stream, source stream, then one marker per dead id (the replayed one first, then its
# siblings). ARGV: marker ttl, n = number of dead ids, the n dead ids, field, value, ...
# One script, so a replay that runs twice (or crashes half-way) never adds the entry twice.
_REPLAY = """
local done = redis.call('GET', KEYS[3])
if done then return {0, done} end
if #redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3]) == 0 then return {-1, ''} end
local n = tonumber(ARGV[2])
local fields = {}
for i = 3 + n, #ARGV do fields[#fields + 1] = ARGV[i] end
local new_id = redis.call('XADD', KEYS[2], '*', unpack(fields))
for i = 1, n do
  redis.call('SET', KEYS[2 + i], new_id, 'EX', tonumber(ARGV[1]))
  redis.call('XDEL', KEYS[1], ARGV[2 + i])
end
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
class Problem:
    """One source entry and every dead letter it left (one per group that refused it)."""

    source_stream: str | None
    """None: a dead letter whose meta does not decode (a problem of its own)."""
    source_id: str | None
    event_id: str | None
    """The notification id of an ingress event (its `id`, else `evt-<entry id>`); None otherwise."""
    letters: list[DeadEntry] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(e.meta.group for e in self.letters if e.meta is not None))

    def reasons(self) -> dict[str, list[str]]:
        """Each distinct reason with the groups that gave it."""
        found: dict[str, list[str]] = {}
        for e in self.letters:
            if e.meta is not None:
                found.setdefault(e.meta.reason, []).append(e.meta.group)
        return found


@dataclass(frozen=True)
class ReplayResult:
    """What one replay did: `new_id` on the source stream; `already` if an earlier run did it;
    `cleared`: the sibling dead letters of the same entry it removed too."""

    dead_id: str
    new_id: str
    already: bool
    cleared: tuple[str, ...] = ()


def parse_entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadEntry:
    """A dead-letter stream entry; a `meta` that does not decode is kept raw (meta=None)."""
    raw_meta = fields.get(META_FIELD, b"")
    try:
        meta: DeadLetter | None = msgspec.json.decode(raw_meta, type=DeadLetter)
    except msgspec.DecodeError:
        meta = None
    return DeadEntry(id_text(entry_id), meta, original_fields(fields), raw_meta)


async def scan_dead(
    client: redis_async.Redis, keys: Keys, newest_first: bool, limit: int
) -> tuple[list[DeadEntry], bool]:
    """Up to `limit` dead letters, oldest (or newest) first, read in pages; True if more remain."""
    entries: list[DeadEntry] = []
    bound = "+" if newest_first else "-"
    while len(entries) < limit:
        count = min(SCAN_PAGE, limit - len(entries))
        if newest_first:
            rows = await client.xrevrange(keys.dead_letters, max=bound, count=count)
        else:
            rows = await client.xrange(keys.dead_letters, min=bound, count=count)
        entries += [parse_entry(i, f) for i, f in rows]
        if len(rows) < count:
            return entries, False
        bound = after(entries[-1].id)  # the next page starts after the last entry read
    if newest_first:
        rest = await client.xrevrange(keys.dead_letters, max=bound, count=1)
    else:
        rest = await client.xrange(keys.dead_letters, min=bound, count=1)
    return entries, bool(rest)


def _event_id(entry: DeadEntry) -> str | None:
    event = entry.original.get(FIELD_EVENT)
    if event is None or entry.meta is None:
        return None
    try:
        doc = msgspec.json.decode(event)
    except msgspec.DecodeError:
        doc = None
    given = doc.get("id") if isinstance(doc, dict) else None
    return notification_id_of(given if isinstance(given, str) else None, entry.meta.source_id)


def problems(entries: list[DeadEntry]) -> list[Problem]:
    """Dead letters grouped by the entry they came from, in the order each problem first appears."""
    found: dict[tuple[str, str], Problem] = {}
    for entry in entries:
        if entry.meta is None:
            found[("", entry.id)] = Problem(None, None, None, [entry])
            continue
        key = (entry.meta.source_stream, entry.meta.source_id)
        if key not in found:
            found[key] = Problem(key[0], key[1], _event_id(entry))
        found[key].letters.append(entry)
    return list(found.values())


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
            doc["id"] = notification_id_of(None, entry.meta.source_id)
            fields[FIELD_EVENT] = msgspec.json.encode(doc)
    fields[REPLAY_FIELD] = entry.id.encode()
    return fields


async def replay(
    client: redis_async.Redis, keys: Keys, dead_id: str, siblings: list[str] | None = None
) -> ReplayResult:
    """Put a dead letter's original fields back on its source stream, once, and delete it and
    `siblings` (other dead letters of the same source entry: the one append reaches their groups)."""
    marker = keys.seen(REPLAY_SCOPE, dead_id)
    done = await client.get(marker)
    if done is not None:
        return ReplayResult(dead_id, id_text(done), already=True)
    entry = await get_dead(client, keys, dead_id)
    if entry.meta is None or not entry.original:
        raise DeadLetterMissing(f"{dead_id} has no readable source stream or original fields")
    dead_ids = [dead_id, *(s for s in siblings or [] if s != dead_id)]
    args: list[bytes | str | int] = [REPLAY_MARKER_TTL_S, len(dead_ids), *dead_ids]
    for name, value in replay_fields(entry).items():
        args += [name, value]
    markers = [keys.seen(REPLAY_SCOPE, i) for i in dead_ids]
    status, new_id = await client.eval(
        _REPLAY, 2 + len(markers), keys.dead_letters, entry.meta.source_stream, *markers, *args
    )
    if int(status) < 0:
        raise DeadLetterMissing(dead_id)
    already = int(status) == 0
    return ReplayResult(dead_id, id_text(new_id), already, () if already else tuple(dead_ids[1:]))


async def purge(client: redis_async.Redis, keys: Keys, dead_ids: list[str]) -> int:
    """Delete dead letters by id; returns how many existed."""
    return int(await client.xdel(keys.dead_letters, *dead_ids)) if dead_ids else 0


async def purge_all(client: redis_async.Redis, keys: Keys) -> int:
    """Delete every dead letter; returns how many there were."""
    count = int(await client.xlen(keys.dead_letters))
    await client.xtrim(keys.dead_letters, maxlen=0)
    return count
