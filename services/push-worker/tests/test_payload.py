from __future__ import annotations

import pytest
from firebase_admin import messaging
from notify_common.schemas import Notification
from push_worker.payload import MessageTemplates, PayloadError, PayloadSettings, build_message

SETTINGS = PayloadSettings(android_channel_id="general", sound="default")
NOW = 1_800_000_000_000


def note(**fields: object) -> Notification:
    base: dict[str, object] = {
        "id": "n1",
        "type": "order.shipped",
        "title": "Shipped",
        "body": "Tue",
        "created_ms": NOW,
    }
    return Notification(**{**base, **fields})  # type: ignore[arg-type]


def encoded(message: messaging.Message) -> dict[str, object]:
    return messaging._MessagingService.encode_message(message)  # type: ignore[no-any-return]


def test_data_values_become_strings_with_the_notification_identity() -> None:
    message = build_message(
        note(data={"order": 7, "tags": ["a"], "text": "x"}, category="orders"),
        token="tok",
        platform="android",
        settings=SETTINGS,
        now_ms=NOW,
    )
    assert message.data == {
        "order": "7",
        "tags": '["a"]',
        "text": "x",
        "nf_id": "n1",
        "nf_type": "order.shipped",
        "nf_category": "orders",
    }


def test_android_message_maps_priority_channel_ttl_and_collapse_key() -> None:
    message = build_message(
        note(priority="high", category="orders", collapse_key="order-7", expires_ms=NOW + 90_000),
        token="tok",
        platform="android",
        settings=SETTINGS,
        now_ms=NOW,
    )
    body = encoded(message)
    assert body["android"] == {
        "priority": "high",
        "ttl": "90s",
        "collapse_key": "order-7",
        "notification": {"channel_id": "orders", "sound": "default", "tag": "order-7"},
    }
    assert body["notification"] == {"title": "Shipped", "body": "Tue"}
    assert "apns" not in body and "webpush" not in body


def test_ios_message_has_sound_badge_and_alert_headers() -> None:
    body = encoded(
        build_message(note(data={"badge": 3}), token="tok", platform="ios", settings=SETTINGS, now_ms=NOW)
    )
    assert body["apns"] == {
        "headers": {"apns-push-type": "alert", "apns-priority": "10"},
        "payload": {"aps": {"sound": "default", "badge": 3}},
    }


def test_silent_push_is_data_only_with_content_available() -> None:
    body = encoded(
        build_message(note(silent=True), token="tok", platform="ios", settings=SETTINGS, now_ms=NOW)
    )
    assert "notification" not in body
    assert body["apns"] == {
        "headers": {"apns-push-type": "background", "apns-priority": "5"},
        "payload": {"aps": {"content-available": 1}},
    }


def test_web_message_has_urgency_ttl_and_notification() -> None:
    body = encoded(
        build_message(
            note(priority="low", expires_ms=NOW + 60_000),
            token="t",
            platform="web",
            settings=SETTINGS,
            now_ms=NOW,
        )
    )
    assert body["webpush"] == {
        "headers": {"Urgency": "low", "TTL": "60"},
        "notification": {"title": "Shipped", "body": "Tue"},
    }


def test_topic_message_carries_every_platform() -> None:
    body = encoded(build_message(note(), topic="role-driver", settings=SETTINGS, now_ms=NOW))
    assert body["topic"] == "role-driver"
    assert {"android", "apns", "webpush"} <= set(body)


def test_payload_over_4096_bytes_is_refused_with_the_size() -> None:
    with pytest.raises(
        PayloadError, match=r"payload too large for FCM: \d+ bytes, the limit for messages is 4096"
    ):
        build_message(note(body="x" * 4096), token="t", platform="android", settings=SETTINGS, now_ms=NOW)


def test_topic_payload_over_2048_bytes_is_refused() -> None:
    with pytest.raises(PayloadError, match="limit for topic messages is 2048"):
        build_message(note(body="x" * 2100), topic="news", settings=SETTINGS, now_ms=NOW)


def test_reserved_data_key_is_refused() -> None:
    with pytest.raises(PayloadError, match="'google.x' is reserved by FCM"):
        build_message(
            note(data={"google.x": "1"}), token="t", platform="android", settings=SETTINGS, now_ms=NOW
        )


def test_invalid_topic_name_is_refused() -> None:
    with pytest.raises(PayloadError, match="invalid FCM topic name"):
        build_message(note(), topic="role driver", settings=SETTINGS, now_ms=NOW)


def test_templates_build_once_per_notification_and_platform_and_copy_per_token() -> None:
    templates = MessageTemplates(SETTINGS, NOW)
    first = templates.message(note(), token="a", platform="android")
    second = templates.message(note(), token="b", platform="android")
    ios = templates.message(note(), token="c", platform="ios")
    assert len(templates.built) == 2
    assert (first.token, second.token) == ("a", "b")
    direct = build_message(note(), token="b", platform="android", settings=SETTINGS, now_ms=NOW)
    assert encoded(second) == encoded(direct)
    assert encoded(ios) == encoded(
        build_message(note(), token="c", platform="ios", settings=SETTINGS, now_ms=NOW)
    )


def test_templates_give_every_device_the_payload_error() -> None:
    templates = MessageTemplates(SETTINGS, NOW)
    bad = note(data={"from": "x"})
    for token in ("a", "b"):
        with pytest.raises(PayloadError, match="reserved"):
            templates.message(bad, token=token, platform="android")
