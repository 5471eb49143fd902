"""A paced domain-service publisher: events XADDed to ingress at a fixed rate, stamped on send."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from notify_common.keys import Keys
from notify_common.publish import build_event
from notify_common.schemas import FIELD_EVENT, encode
from notify_common.shards import event_shard_key


@dataclass(frozen=True)
class Planned:
    """One event to publish: its id and audience (the payload gets the publish time), and the
    publisher's `source`, which shards an event of several recipients (`shards.event_shard_key`)."""

    id: str
    audience: dict[str, Any]
    type: str = "bench.event"
    source: str | None = None


@dataclass(frozen=True)
class Published:
    count: int
    seconds: float
    first_ns: int
    last_ns: int

    @property
    def rate_per_s(self) -> float:
        return round(self.count / self.seconds, 1) if self.seconds else 0.0


def publish_paced(client: redis.Redis, keys: Keys, plan: Sequence[Planned], rate_per_s: float) -> Published:
    """Publish `plan` at `rate_per_s`; each event's `data.t_pub_ns` is the wall clock at send.

    Events due at the same wake-up go out in one pipeline (what a busy domain service does).
    """
    started = time.monotonic()
    first_ns = time.time_ns()
    sent = 0
    while sent < len(plan):
        due = min(len(plan), int((time.monotonic() - started) * rate_per_s) + 1)
        pipe = client.pipeline(transaction=False)
        for item in plan[sent:due]:
            data = {"t_pub_ns": time.time_ns()}
            event = build_event(
                id=item.id,
                type=item.type,
                title="bench",
                audience=item.audience,
                data=data,
                source=item.source,
            )
            pipe.xadd(keys.ingress_for(event_shard_key(event)), {FIELD_EVENT: encode(event)})
        pipe.execute()
        sent = due
        next_due = started + sent / rate_per_s
        pause = next_due - time.monotonic()
        if pause > 0 and sent < len(plan):
            time.sleep(pause)
    return Published(len(plan), time.monotonic() - started, first_ns, time.time_ns())
