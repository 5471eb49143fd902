"""Notification -> FCM message, per platform (docs/protocol.md section 6 lists the mapping).

Token messages carry only the block of the device's platform (smaller payloads); topic messages
carry all three, since a topic's subscribers can be on any platform.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field

import msgspec
from firebase_admin import messaging
from notify_common.schemas import Notification

FCM_PAYLOAD_LIMIT = 4096
FCM_TOPIC_PAYLOAD_LIMIT = 2048
TOPIC_RE = re.compile(r"^[a-zA-Z0-9\-_.~%]{1,900}$")  # FCM's topic alphabet (the SDK checks the same)
_RESERVED_KEYS = frozenset({"from", "notification", "message_type", "collapse_key"})
_RESERVED_PREFIXES = ("google", "gcm")
_encoder = msgspec.json.Encoder()


class PayloadError(Exception):
    """The notification can never be sent to FCM; the message is the dead-letter reason."""


@dataclass(frozen=True, slots=True)
class PayloadSettings:
    """Mapping choices taken from config."""

    android_channel_id: str = "default"
    sound: str = "default"


def data_payload(notification: Notification) -> dict[str, str]:
    """FCM `data`: every value a string (others JSON-encoded), plus the notification's identity."""
    data: dict[str, str] = {}
    for key, value in notification.data.items():
        if key in _RESERVED_KEYS or key.startswith(_RESERVED_PREFIXES):
            raise PayloadError(f"data key {key!r} is reserved by FCM")
        data[key] = value if isinstance(value, str) else _encoder.encode(value).decode()
    data["nf_id"] = notification.id
    data["nf_type"] = notification.type
    if notification.category:
        data["nf_category"] = notification.category
    return data


def payload_size(notification: Notification, data: dict[str, str]) -> int:
    """Bytes FCM counts against its limit: the visible notification and the data, as JSON."""
    shown = {} if notification.silent else {"title": notification.title, "body": notification.body}
    return len(_encoder.encode({"notification": shown, "data": data}))


def check_size(size: int, topic: bool) -> None:
    """Raise PayloadError when FCM would refuse the message as too big."""
    limit = FCM_TOPIC_PAYLOAD_LIMIT if topic else FCM_PAYLOAD_LIMIT
    if size > limit:
        kind = "topic messages" if topic else "messages"
        raise PayloadError(f"payload too large for FCM: {size} bytes, the limit for {kind} is {limit}")


def build_message(
    notification: Notification,
    *,
    token: str = "",
    platform: str = "",
    topic: str = "",
    settings: PayloadSettings,
    now_ms: int,
) -> messaging.Message:
    """The FCM message for one device (`token` and `platform`) or one `topic`."""
    if topic and not TOPIC_RE.match(topic):
        raise PayloadError(f"invalid FCM topic name {topic!r} (allowed: A-Z a-z 0-9 - _ . ~ %)")
    data = data_payload(notification)
    check_size(payload_size(notification, data), bool(topic))
    ttl_s = None
    if notification.expires_ms is not None:
        ttl_s = max(0, (notification.expires_ms - now_ms + 999) // 1000)
    visible = not notification.silent and bool(notification.title or notification.body)
    every = bool(topic)
    message = messaging.Message(
        topic=topic or None,
        data=data,
        notification=messaging.Notification(notification.title or None, notification.body or None)
        if visible
        else None,
        android=_android(notification, settings, ttl_s, visible) if every or platform == "android" else None,
        apns=_apns(notification, settings, visible) if every or platform == "ios" else None,
        webpush=_webpush(notification, ttl_s, visible) if every or platform == "web" else None,
    )
    # Devices register FCM registration tokens, still the v1 API's `token` target. SDK 7.7 marks
    # the constructor argument deprecated in favour of installation ids (`fid`), which clients do
    # not give us; setting the attribute sends the same `token` field without the warning.
    message.token = token or None
    return message


@dataclass
class MessageTemplates:
    """Messages of one send pass: built once per notification and platform, copied per token.

    A notification to many devices of one platform differs only in the token, so the mapping,
    the data checks and the size check run once; each device gets a shallow copy (the SDK only
    reads a message's parts). A payload error is remembered too: every device gets it.
    """

    settings: PayloadSettings
    now_ms: int
    built: dict[tuple[str, str, str], messaging.Message | PayloadError] = field(default_factory=dict)

    def message(
        self, notification: Notification, *, token: str = "", platform: str = "", topic: str = ""
    ) -> messaging.Message:
        key = (notification.id, "" if topic else platform, topic)
        template = self.built.get(key)
        if template is None:
            try:
                template = build_message(
                    notification, platform=platform, topic=topic, settings=self.settings, now_ms=self.now_ms
                )
            except PayloadError as exc:
                template = exc
            self.built[key] = template
        if isinstance(template, PayloadError):
            raise PayloadError(str(template))
        message = copy.copy(template)
        message.token = token or None
        return message


def _android(
    n: Notification, s: PayloadSettings, ttl_s: int | None, visible: bool
) -> messaging.AndroidConfig:
    shown = None
    if visible:
        shown = messaging.AndroidNotification(
            channel_id=n.category or s.android_channel_id, sound=s.sound or None, tag=n.collapse_key
        )
    return messaging.AndroidConfig(
        priority="high" if n.priority == "high" else "normal",
        ttl=dt.timedelta(seconds=ttl_s) if ttl_s is not None else None,
        collapse_key=n.collapse_key,
        notification=shown,
    )


def _apns(n: Notification, s: PayloadSettings, visible: bool) -> messaging.APNSConfig:
    # Background pushes must use priority 5 and push type "background", or APNs refuses them.
    headers = {
        "apns-push-type": "alert" if visible else "background",
        "apns-priority": "10" if visible and n.priority != "low" else "5",
    }
    if n.collapse_key:
        headers["apns-collapse-id"] = n.collapse_key
    if n.expires_ms is not None:
        headers["apns-expiration"] = str(n.expires_ms // 1000)
    badge = n.data.get("badge")
    aps = messaging.Aps(
        sound=(s.sound or None) if visible else None,
        badge=badge if isinstance(badge, int) and not isinstance(badge, bool) and badge >= 0 else None,
        content_available=True if not visible else None,
        thread_id=n.category,
    )
    return messaging.APNSConfig(headers=headers, payload=messaging.APNSPayload(aps=aps))


def _webpush(n: Notification, ttl_s: int | None, visible: bool) -> messaging.WebpushConfig:
    headers = {"Urgency": {"high": "high", "normal": "normal", "low": "low"}[n.priority]}
    if ttl_s is not None:
        headers["TTL"] = str(ttl_s)
    shown = None
    if visible:
        shown = messaging.WebpushNotification(title=n.title or None, body=n.body or None, tag=n.collapse_key)
    return messaging.WebpushConfig(headers=headers, notification=shown)
