"""What history stores and serves: rows written in bulk and items the API returns."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import msgspec

# Schema notes for the OpenAPI document (openapi.py); they constrain nothing at run time.
_Object = Annotated[msgspec.Raw, msgspec.Meta(extra_json_schema={"type": "object"})]
_Priority = Annotated[str, msgspec.Meta(extra_json_schema={"enum": ["low", "normal", "high"]})]
_Rate = Annotated[float, msgspec.Meta(ge=0, le=1)] | None
_Kind = Annotated[
    str,
    msgspec.Meta(
        extra_json_schema={
            "enum": ["delivered", "acked", "read", "pushed", "push_failed", "expired", "dropped"]
        }
    ),
]
_Channel = Annotated[str, msgspec.Meta(extra_json_schema={"enum": ["socket", "push", ""]})]

# Row tuples in the column order of schema.BULK_COLUMNS.
NotificationRow = tuple[
    str, str, str | None, str, str, str, str, str, str | None, str | None, int, int | None
]
InboxRow = tuple[str, str, str, int]  # user_id, notification_id, type, created_ms
DeliveryRow = tuple[str, str, str, str, int, str, str]  # id, user, kind, channel, at_ms, node, error


class InboxItem(msgspec.Struct, frozen=True, kw_only=True):
    """One notification in a user's inbox; `room` is set for broadcasts (`role:<r>`, `all`, …)."""

    id: str
    type: str
    category: str | None
    title: str
    body: str
    data: _Object
    priority: _Priority
    created_ms: int
    expires_ms: int | None
    room: Annotated[str | None, msgspec.Meta(description="set for broadcasts: role:<r>, all, topic:<t>")]
    read_ms: int | None


class Page(msgspec.Struct, frozen=True, kw_only=True):
    items: list[InboxItem]
    next_cursor: Annotated[str | None, msgspec.Meta(description="pass as `cursor`; null on the last page")]


class TrailEntry(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    kind: _Kind
    channel: _Channel
    at_ms: int
    node: str
    error: str


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    read_ms: int | None


class Trail(msgspec.Struct, frozen=True, kw_only=True):
    """Everything known about one notification: content, recipients and every receipt."""

    id: str
    type: str | None
    audience: str | None
    room: str | None
    title: str | None
    created_ms: int | None
    recipients: list[Recipient]
    broadcast_reads: list[Recipient]
    deliveries: list[TrailEntry]


class TypeDayStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counts of (notification, user) pairs per type and UTC day, with rates over `sent`."""

    type: str
    day: Annotated[str, msgspec.Meta(extra_json_schema={"format": "date"})]
    notifications: int
    sent: int
    delivered_socket: int
    pushed: int
    failed: int
    read: int
    delivered_rate: _Rate
    pushed_rate: _Rate
    failed_rate: _Rate
    read_rate: _Rate


class UnreadCount(msgspec.Struct, frozen=True, kw_only=True):
    unread: int


class ReadResult(msgspec.Struct, frozen=True, kw_only=True):
    """`changed` is false when the notification was read already."""

    id: str
    changed: bool


class AllReadResult(msgspec.Struct, frozen=True, kw_only=True):
    marked: int
    read_ms: int


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    days: list[TypeDayStats]


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Where a page ended: the last item's (created_ms, id). Opaque to clients."""

    created_ms: int
    id: str


class BadCursor(ValueError):
    """A cursor that this API did not hand out."""


_cursor_decoder = msgspec.json.Decoder(Cursor)


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return _cursor_decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadCursor("invalid cursor: pass back `next_cursor` unchanged") from None
