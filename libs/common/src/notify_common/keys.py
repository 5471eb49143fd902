"""Every Redis key and stream name in the fleet, built here and nowhere else.

Keys that one operation touches together share a Redis Cluster hash tag: everything about one
user lives under `{u:<id>}`, everything about one gateway node under `{n:<id>}`. Streams are
single keys and need no tag: each shard of a sharded stream (`STREAM_SHARDS`, see
`notify_common.shards`) is a key of its own, hashed whole, so shards spread over slots.
"""

from __future__ import annotations

from notify_common.shards import shard_index, sharded_name

# Consumer groups: one per service that reads a stream.
GROUP_ROUTER = "router"
GROUP_HISTORY = "history"
GROUP_PUSH = "push-worker"
GROUP_GATEWAY = "gateway"


class Keys:
    """Key names under one prefix (`KEY_PREFIX`, default `nf`), with the ingress, push and
    receipts streams split into `shards` shard streams (`STREAM_SHARDS`, default 1)."""

    def __init__(self, prefix: str = "nf", shards: int = 1) -> None:
        self.prefix = prefix
        self.shards = max(1, shards)

    # --- streams -------------------------------------------------------------------------
    @property
    def ingress(self) -> str:
        """Public ingress stream (its shard 0): domain services XADD published events here."""
        return f"{self.prefix}:stream:ingress"

    @property
    def ingress_shards(self) -> list[str]:
        """Every ingress shard stream, shard 0 first."""
        return self._all(self.ingress)

    def ingress_for(self, shard_key: str) -> str:
        """The ingress shard an event with this shard key goes to (`shards.event_shard_key`)."""
        return self._for(self.ingress, shard_key)

    def _all(self, base: str) -> list[str]:
        return [sharded_name(base, i) for i in range(self.shards)]

    def _for(self, base: str, shard_key: str) -> str:
        return sharded_name(base, shard_index(shard_key, self.shards))

    def node_deliveries(self, node_id: str) -> str:
        """Per-gateway-node delivery stream written by the router."""
        return f"{self.prefix}:stream:node:{{n:{node_id}}}"

    @property
    def push_jobs(self) -> str:
        """Push jobs for push-worker (shard 0)."""
        return f"{self.prefix}:stream:push"

    @property
    def push_shards(self) -> list[str]:
        """Every push-job shard stream, shard 0 first."""
        return self._all(self.push_jobs)

    def push_for(self, shard_key: str) -> str:
        """The push shard of jobs made from an event with this shard key (same number as its
        ingress shard)."""
        return self._for(self.push_jobs, shard_key)

    @property
    def receipts(self) -> str:
        """Delivery, push and read receipts, consumed by history (shard 0)."""
        return f"{self.prefix}:stream:receipts"

    @property
    def receipt_shards(self) -> list[str]:
        """Every receipts shard stream, shard 0 first."""
        return self._all(self.receipts)

    def receipts_for(self, user_id: str) -> str:
        """The receipts shard of one user's receipts."""
        return self._for(self.receipts, user_id)

    @property
    def dead_letters(self) -> str:
        """Entries no consumer could handle, with the reason; listed and replayed by the CLI."""
        return f"{self.prefix}:stream:dead"

    def user_feed(self, user_id: str) -> str:
        """A user's recent notifications (capped), read by the gateway for catch-up."""
        return f"{self.prefix}:feed:{{u:{user_id}}}"

    def room_feed(self, room: str) -> str:
        """Recent broadcasts to a room (role:<r>, topic:<t>, all), read for catch-up."""
        return f"{self.prefix}:feed:room:{room}"

    # --- presence ------------------------------------------------------------------------
    def user_presence(self, user_id: str) -> str:
        """Hash node_id -> open connection count for one user."""
        return f"{self.prefix}:presence:{{u:{user_id}}}"

    def routing_marks(self, user_id: str) -> str:
        """Sorted set token -> deadline (unix ms): routings that read this user's presence and
        have not written yet (presence/in_flight.py)."""
        return f"{self.prefix}:routing:{{u:{user_id}}}"

    @property
    def live_nodes(self) -> str:
        """Sorted set of gateway node ids scored by their last heartbeat (unix ms)."""
        return f"{self.prefix}:nodes"

    @property
    def room_routings(self) -> str:
        """Sorted set router -> deadline (unix ms) of its last routing of a room audience that
        read the live nodes (presence/in_flight.py). Hash-tagged to the slot of `live_nodes`:
        a router's mark and its live-node read reach the same Redis node in order."""
        return f"{self.prefix}:routing:{{{self.live_nodes}}}"

    def node_users(self, node_id: str) -> str:
        """Hash user_id -> connection count on one node; lets a survivor clean up a dead node."""
        return f"{self.prefix}:node:{{n:{node_id}}}:users"

    def node_alive(self, node_id: str) -> str:
        """Marker a gateway sets with every heartbeat; missing means Redis lost the node's presence."""
        return f"{self.prefix}:node:{{n:{node_id}}}:alive"

    def user_connections(self, user_id: str) -> str:
        """Counter: a user's open connections over all nodes (0 -> 1 and 1 -> 0 move role counts)."""
        return f"{self.prefix}:conns:{{u:{user_id}}}"

    def node_user_roles(self, node_id: str) -> str:
        """Hash user_id -> JSON list of roles, so a survivor can fix role counts of a dead node."""
        return f"{self.prefix}:node:{{n:{node_id}}}:roles"

    @property
    def online_by_role(self) -> str:
        """Hash role -> number of distinct online users holding it (no scan needed)."""
        return f"{self.prefix}:online-by-role"

    # --- devices, preferences, locations (written by one service, read by another) -----
    def devices(self, user_id: str) -> str:
        """Hash FCM/APNs token -> JSON {platform, last_seen_ms}: a user's push devices."""
        return f"{self.prefix}:devices:{{u:{user_id}}}"

    def device_owner(self, token: str) -> str:
        """String: the user a push token is registered to now (a token has one owner at a time)."""
        return f"{self.prefix}:device-owner:{token}"

    def preferences(self, user_id: str) -> str:
        """A user's notification preferences (muted categories and channels)."""
        return f"{self.prefix}:prefs:{{u:{user_id}}}"

    def locations(self, role: str) -> str:
        """GEO set of the latest position of each user of a role (gateway writes, router reads)."""
        return f"{self.prefix}:geo:{{r:{role}}}"

    def location_seen(self, role: str) -> str:
        """Sorted set user -> unix ms of the last location update, to ignore stale positions."""
        return f"{self.prefix}:geo-seen:{{r:{role}}}"

    def location_channel(self, user_id: str) -> str:
        """Pub/sub channel of one user's live positions (ephemeral: nothing is queued)."""
        return f"{self.prefix}:loc:{{u:{user_id}}}"

    # --- router: scheduling and rate limits ----------------------------------------------
    @property
    def scheduled(self) -> str:
        """Sorted set ingress entry id -> due unix ms of events held for `deliver_at`."""
        return f"{self.prefix}:sched:{{sched}}:due"

    @property
    def scheduled_events(self) -> str:
        """Hash ingress entry id -> event JSON of the held events (same slot as `scheduled`)."""
        return f"{self.prefix}:sched:{{sched}}:events"

    def rate(self, user_id: str) -> str:
        """Counter of notifications routed to one user in the current rate-limit window."""
        return f"{self.prefix}:rate:{{u:{user_id}}}"

    # --- push-worker: durable retries and sent markers ------------------------------------
    @property
    def push_retry_schedule(self) -> str:
        """Sorted set retry id -> unix ms when due (push-worker's durable delayed retries)."""
        return f"{self.prefix}:push:{{retries}}:due"

    @property
    def push_retry_items(self) -> str:
        """Hash retry id -> JSON of the push to retry (same slot as the schedule)."""
        return f"{self.prefix}:push:{{retries}}:items"

    def push_sent(self, notification_id: str) -> str:
        """Hash target digest -> 1: devices and topics a notification was pushed to (with a TTL)."""
        return f"{self.prefix}:push:sent:{notification_id}"

    # --- idempotency and leases ----------------------------------------------------------
    def seen(self, scope: str, item_id: str) -> str:
        """Marker that `item_id` was already processed in `scope` (SET NX with a TTL)."""
        return f"{self.prefix}:seen:{scope}:{item_id}"

    def lease(self, name: str) -> str:
        """A lease held by one replica at a time (SET NX PX)."""
        return f"{self.prefix}:lease:{name}"
