"""What the router needs to know about each explicit recipient, in one call per user.

The presence package's `READ_RECIPIENT` script reads the user's presence hash and preferences
hash and adds to their rate-limit counter (keys under one `{u:<id>}` tag, so valid on Redis
Cluster; the counter's INCRBY and EXPIRE are atomic). All the calls of a batch go out in one
pipeline: one round trip for any number of users, with presence judged by the same rule as every
other reader (`notify_common.presence`: live nodes only, count > 0). One call instead of three
per user is what keeps the router fast at 10 users per event. The calls ride in the router's one
read pipeline per batch (routing.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from notify_common.keys import Keys
from notify_common.presence import recipient_from, recipient_read
from notify_common.presence.in_flight import RoutingMark, release_command
from notify_common.redis_line import Command

from router.preferences import NO_PREFERENCES, Preferences, preferences_from_hash


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

    def __init__(self, keys: Keys, window_s: int) -> None:
        self.keys = keys
        self.window_s = window_s

    def commands(self, users: Sequence[str], counted: Counter[str], mark: RoutingMark) -> list[Command]:
        """One EVALSHA per user in `users` (distinct), adding `counted[user]` to their counter
        and leaving the routing's `mark` (removed by the chunk's writes: `releases`).

        EVALSHA alone, not a SCRIPT EXISTS round trip per batch: the caller loads the script and
        sends the reads again on the rare NOSCRIPT reply (Redis restarted).
        """
        keys, window = self.keys, self.window_s
        return [recipient_read(keys, user_id, counted.get(user_id, 0), window, mark) for user_id in users]

    def releases(self, users: Sequence[str], mark: RoutingMark) -> list[Command]:
        """The marks' removal, appended after every other write of the chunk (after the feeds)."""
        return [release_command(self.keys, user_id, mark) for user_id in users]

    @staticmethod
    def parse(users: Sequence[str], replies: Sequence[list[Any]], alive: set[str]) -> dict[str, Recipient]:
        """user -> Recipient from the replies to `commands`, keeping live nodes only."""
        found: dict[str, Recipient] = {}
        for user_id, reply in zip(users, replies, strict=True):
            nodes, prefs, count = recipient_from(reply, alive)
            found[user_id] = Recipient(
                nodes=nodes,
                prefs=preferences_from_hash(dict(zip(prefs[::2], prefs[1::2], strict=True)))
                if prefs
                else NO_PREFERENCES,
                rate_count=count,
            )
        return found
