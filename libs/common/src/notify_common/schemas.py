"""Message schemas for every stream entry in the fleet (msgspec Structs, version 1).

Each stream entry carries one JSON document in one field (see `docs/protocol.md`):
ingress `event`, node deliveries `delivery`, push jobs `job`, receipts `receipt`.
Decoding is strict: unknown fields, wrong types and out-of-range values are errors that name
the offending path, and the consumer dead-letters the entry with that reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from notify_common.stream_ids import id_ms

_T = TypeVar("_T")

Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Title = Annotated[str, msgspec.Meta(max_length=256)]
Body = Annotated[str, msgspec.Meta(max_length=4096)]
Priority = Literal["low", "normal", "high"]
Channel = Literal["socket", "push"]

MAX_USERS_PER_EVENT = 10_000
MAX_DATA_BYTES = 8192


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


# --- audiences (tagged by "kind") -------------------------------------------------------
class UsersAudience(
    _Strict, tag="users", tag_field="kind", kw_only=True, frozen=True, forbid_unknown_fields=True
):
    ids: Annotated[list[Identifier], msgspec.Meta(min_length=1, max_length=MAX_USERS_PER_EVENT)]


class RoleAudience(
    _Strict, tag="role", tag_field="kind", kw_only=True, frozen=True, forbid_unknown_fields=True
):
    role: Name


class AllAudience(
    _Strict, tag="all", tag_field="kind", kw_only=True, frozen=True, forbid_unknown_fields=True
):
    pass


class TopicAudience(
    _Strict, tag="topic", tag_field="kind", kw_only=True, frozen=True, forbid_unknown_fields=True
):
    topic: Name


class GeoAudience(
    _Strict, tag="geo", tag_field="kind", kw_only=True, frozen=True, forbid_unknown_fields=True
):
    role: Name
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    radius_m: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


Audience = UsersAudience | RoleAudience | AllAudience | TopicAudience | GeoAudience


# --- ingress: what a domain service publishes -------------------------------------------
class Event(_Strict, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A published event (ingress stream field `event`)."""

    v: Literal[1] = 1
    id: Identifier | None = None
    type: Name
    audience: Audience
    title: Title = ""
    body: Body = ""
    data: dict[str, Any] = {}
    category: Name | None = None
    priority: Priority = "normal"
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=2)] | None = None
    transient: bool = False
    silent: bool = False
    ttl_s: Annotated[int, msgspec.Meta(gt=0, le=30 * 86400)] | None = None
    expires_at: dt.datetime | None = None
    deliver_at: dt.datetime | None = None
    collapse_key: Name | None = None
    source: Name | None = None


# --- what clients, feeds and history see ------------------------------------------------
class Notification(_Strict, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One notification as delivered to clients and kept in feeds (derived from an Event)."""

    id: str
    type: str
    title: str = ""
    body: str = ""
    data: dict[str, Any] = {}
    category: str | None = None
    priority: Priority = "normal"
    silent: bool = False
    transient: bool = False
    collapse_key: str | None = None
    created_ms: int
    expires_ms: int | None = None


# --- router -> gateway node -------------------------------------------------------------
class NodeDelivery(_Strict, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One entry per event per gateway node (stream field `delivery`): all local recipients."""

    v: Literal[1] = 1
    notification: Notification
    user_ids: list[str] = []
    rooms: list[str] = []
    published_ms: int = 0


# --- router -> push-worker --------------------------------------------------------------
class PushJob(_Strict, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Push the notification to every device of each user, or to an FCM topic (field `job`)."""

    v: Literal[1] = 1
    notification: Notification
    user_ids: list[str] = []
    topic: str | None = None
    published_ms: int = 0


# --- anyone -> history ------------------------------------------------------------------
ReceiptKind = Literal["delivered", "acked", "read", "pushed", "push_failed", "expired", "dropped"]


class Receipt(_Strict, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A fact about one notification for one user (field `receipt`), consumed by history."""

    v: Literal[1] = 1
    notification_id: str
    user_id: str
    kind: ReceiptKind
    channel: Literal["socket", "push", ""] = ""
    node: str = ""
    at_ms: int
    error: str = ""


# --- dead letters -----------------------------------------------------------------------
class DeadLetter(_Strict, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Why an entry was dead-lettered and where it came from (the original fields ride along)."""

    source_stream: str
    source_id: str
    group: str
    consumer: str
    reason: str
    deliveries: int
    at_ms: int


class BadEntry(Exception):
    """A stream entry that can never be processed; the message is the dead-letter reason."""


_event_decoder = msgspec.json.Decoder(Event)
_delivery_decoder = msgspec.json.Decoder(NodeDelivery)
_push_decoder = msgspec.json.Decoder(PushJob)
_receipt_decoder = msgspec.json.Decoder(Receipt)
_encoder = msgspec.json.Encoder()

FIELD_EVENT = b"event"
FIELD_DELIVERY = b"delivery"
FIELD_JOB = b"job"
FIELD_RECEIPT = b"receipt"
# Catch-up feed entries: the stored notification, and the ingress entry id it was routed from.
# Feeds are separate streams whose auto ids tie within a millisecond; the ingress id breaks the
# tie in the fleet-wide order the router wrote them in.
FIELD_FEED_NOTIFICATION = b"n"
FIELD_FEED_ORIGIN = b"o"


def encode(value: Any) -> bytes:
    """JSON-encode a schema object (or any msgspec-supported value)."""
    return _encoder.encode(value)


def _field(fields: dict[bytes, bytes], name: bytes) -> bytes:
    try:
        return fields[name]
    except KeyError:
        raise BadEntry(f"missing field {name.decode()!r}") from None


def decode_event(fields: dict[bytes, bytes]) -> Event:
    """Decode and check an ingress entry; raise BadEntry with a reason a publisher can act on."""
    raw = _field(fields, FIELD_EVENT)
    try:
        event = _event_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadEntry(f"invalid event: {exc}") from None
    check_event(event, len(raw))
    return event


def check_event(event: Event, raw_size: int = 0) -> None:
    """Rules that a schema cannot express; raise BadEntry."""
    if event.data and len(_encoder.encode(event.data)) > MAX_DATA_BYTES:
        raise BadEntry(f"invalid event: `data` is larger than {MAX_DATA_BYTES} bytes")
    for moment in ("expires_at", "deliver_at"):
        value = getattr(event, moment)
        if value is not None and value.tzinfo is None:
            raise BadEntry(f"invalid event: `{moment}` needs a timezone (e.g. 2026-01-01T12:00:00Z)")
    if event.ttl_s is not None and event.expires_at is not None:
        raise BadEntry("invalid event: give `ttl_s` or `expires_at`, not both")


def decode_delivery(fields: dict[bytes, bytes]) -> NodeDelivery:
    """Decode a per-node delivery entry."""
    return _decode(_delivery_decoder, fields, FIELD_DELIVERY, "delivery")


def decode_push_job(fields: dict[bytes, bytes]) -> PushJob:
    """Decode a push job entry."""
    return _decode(_push_decoder, fields, FIELD_JOB, "push job")


def decode_receipt(fields: dict[bytes, bytes]) -> Receipt:
    """Decode a receipt entry."""
    return _decode(_receipt_decoder, fields, FIELD_RECEIPT, "receipt")


def _decode(decoder: msgspec.json.Decoder[_T], fields: dict[bytes, bytes], name: bytes, what: str) -> _T:
    try:
        return decoder.decode(_field(fields, name))
    except msgspec.DecodeError as exc:
        raise BadEntry(f"invalid {what}: {exc}") from None


def to_ms(moment: dt.datetime) -> int:
    """Unix milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


def notification_id_of(given: str | None, entry_id: str) -> str:
    """A notification's id: the publisher's own, or `evt-<ingress entry id>` when it gave none."""
    return given or f"evt-{entry_id}"


def notification_from_event(event: Event, entry_id: str) -> Notification:
    """The client-visible notification; an event without `id` takes one from its stream entry."""
    created_ms = id_ms(entry_id)
    expires_ms: int | None = None
    if event.expires_at is not None:
        expires_ms = to_ms(event.expires_at)
    elif event.ttl_s is not None:
        expires_ms = created_ms + event.ttl_s * 1000
    return Notification(
        id=notification_id_of(event.id, entry_id),
        type=event.type,
        title=event.title,
        body=event.body,
        data=event.data,
        category=event.category,
        priority=event.priority,
        silent=event.silent,
        transient=event.transient,
        collapse_key=event.collapse_key,
        created_ms=created_ms,
        expires_ms=expires_ms,
    )
