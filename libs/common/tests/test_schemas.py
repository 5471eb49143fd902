from __future__ import annotations

import pytest
from notify_common.schemas import (
    BadEntry,
    RoleAudience,
    UsersAudience,
    decode_event,
    notification_from_event,
)


def entry(raw: bytes) -> dict[bytes, bytes]:
    return {b"event": raw}


def test_minimal_event_decodes_with_defaults() -> None:
    event = decode_event(entry(b'{"type":"order.shipped","audience":{"kind":"users","ids":["42"]}}'))
    assert event.audience == UsersAudience(ids=["42"])
    assert event.priority == "normal"
    assert event.v == 1


def test_role_audience_is_selected_by_kind() -> None:
    event = decode_event(entry(b'{"type":"t","audience":{"kind":"role","role":"driver"}}'))
    assert event.audience == RoleAudience(role="driver")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "invalid event: JSON is malformed"),
        (b'{"type":"t"}', "missing required field `audience`"),
        (b'{"type":"t","audience":{"kind":"planet"}}', "Invalid value 'planet'"),
        (b'{"type":"t","audience":{"kind":"users","ids":[]}}', "`$.audience.ids`"),
        (b'{"type":"t","audience":{"kind":"users","ids":[42]}}', "Expected `str`, got `int`"),
        (b'{"type":"t","audience":{"kind":"all"},"colour":"red"}', "unknown field `colour`"),
        (b'{"type":"t","audience":{"kind":"all"},"priority":"urgent"}', "`$.priority`"),
        (b'{"type":"t","audience":{"kind":"all"},"v":2}', "`$.v`"),
        (b'{"type":"t","audience":{"kind":"all"},"deliver_at":"2030-01-01T00:00:00"}', "needs a timezone"),
    ],
)
def test_bad_events_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadEntry) as info:
        decode_event(entry(raw))
    assert reason in str(info.value)


def test_entry_without_event_field_is_rejected() -> None:
    with pytest.raises(BadEntry, match="missing field 'event'"):
        decode_event({b"payload": b"{}"})


def test_oversized_data_is_rejected() -> None:
    raw = b'{"type":"t","audience":{"kind":"all"},"data":{"blob":"' + b"x" * 9000 + b'"}}'
    with pytest.raises(BadEntry, match="larger than"):
        decode_event(entry(raw))


def test_notification_takes_its_id_from_the_stream_entry_when_the_event_has_none() -> None:
    event = decode_event(entry(b'{"type":"t","audience":{"kind":"all"},"ttl_s":60}'))
    notification = notification_from_event(event, "1700000000000-3")
    assert notification.id == "evt-1700000000000-3"
    assert notification.created_ms == 1700000000000
    assert notification.expires_ms == 1700000060000
