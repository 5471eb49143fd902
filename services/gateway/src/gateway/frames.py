"""Frames the gateway sends, encoded once and shared by every socket that receives them."""

from __future__ import annotations

from typing import Any

import msgspec
from notify_common.schemas import Notification

_encoder = msgspec.json.Encoder()


def notification_frame(notification: Notification) -> bytes:
    """`{"type":"notification","notification":{...}}` as UTF-8 JSON."""
    return _encoder.encode({"type": "notification", "notification": notification})


def control_frame(kind: str, **fields: Any) -> bytes:
    """A small control frame such as hello, pong or error."""
    return _encoder.encode({"type": kind, **fields})
