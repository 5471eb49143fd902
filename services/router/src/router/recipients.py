"""What the router needs to know about each explicit recipient, in one call per user.

A small Lua script reads the user's presence hash and preferences hash and adds to their
rate-limit counter. The three keys share the `{u:<id>}` hash tag, so the script is valid on
Redis Cluster, and the counter's INCRBY and EXPIRE are atomic (no window without a TTL). All the
calls of a batch go out in one pipeline: one round trip for any number of users. Presence is
read with the layout and rules of `notify_common.presence` (live nodes only, count > 0); one
call instead of three per user is what keeps the router fast at 10 users per event. The calls
ride in the router's one read pipeline per batch (routing.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.redis_line import Command

from router.preferences import NO_PREFERENCES, Preferences, preferences_from_hash

# KEYS: presence hash, preferences hash, rate counter. ARGV: occurrences to count, window s.
_READ_RECIPIENT = """
local presence = redis.call('HGETALL', KEYS[1])
local prefs = redis.call('HGETALL', KEYS[2])
local n = tonumber(ARGV[1])
local count = 0
if n > 0 then
  count = redis.call('INCRBY', KEYS[3], n)
  redis.call('EXPIRE', KEYS[3], ARGV[2], 'NX')
end
return {presence, prefs, count}
"""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One user as the batch sees them."""

    nodes: dict[str, int]
    """Live gateway node -> connections ({} = offline)."""
    prefs: Preferences
    rate_count: int
    """The user's count in the current window after this batch (0 when not counted)."""


class RecipientReader:
    """Builds the recipient reads of a batch (sent with the router's other reads) and parses them."""

    def __init__(self, client: redis_async.Redis, keys: Keys, window_s: int) -> None:
        self.keys = keys
        self.window_s = window_s
        self.script = client.register_script(_READ_RECIPIENT)

    def commands(self, users: Sequence[str], counted: Counter[str]) -> list[Command]:
        """One EVALSHA per user in `users` (distinct), adding `counted[user]` to their counter.

        EVALSHA alone, not a SCRIPT EXISTS round trip per batch: the caller loads the script and
        sends the reads again on the rare NOSCRIPT reply (Redis restarted).
        """
        sha = self.script.sha
        keys = self.keys
        window = self.window_s
        return [
            (
                "EVALSHA",
                sha,
                3,
                keys.user_presence(user_id),
                keys.preferences(user_id),
                keys.rate(user_id),
                counted.get(user_id, 0),
                window,
            )
            for user_id in users
        ]

    @staticmethod
    def parse(users: Sequence[str], replies: Sequence[list[Any]], alive: set[str]) -> dict[str, Recipient]:
        """user -> Recipient from the replies to `queue`, keeping live nodes only."""
        found: dict[str, Recipient] = {}
        for user_id, (presence, prefs, count) in zip(users, replies, strict=True):
            nodes: dict[str, int] = {}
            for i in range(0, len(presence), 2):
                node = presence[i].decode()
                connections = int(presence[i + 1])
                if connections > 0 and node in alive:
                    nodes[node] = connections
            found[user_id] = Recipient(
                nodes=nodes,
                prefs=preferences_from_hash(dict(zip(prefs[::2], prefs[1::2], strict=True)))
                if prefs
                else NO_PREFERENCES,
                rate_count=int(count),
            )
        return found
