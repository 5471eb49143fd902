"""One push to one device or topic: the unit that is sent, retried, marked and dead-lettered."""

from __future__ import annotations

import hashlib

import msgspec
from notify_common.schemas import Notification


class Send(msgspec.Struct, kw_only=True):
    """A notification for one device token (`token`, `platform`, `user_id`) or one FCM `topic`.

    Stored as JSON in the durable retry schedule, so its fields are part of the stored format.
    """

    notification: Notification
    user_id: str = ""
    token: str = ""
    platform: str = ""
    topic: str = ""
    attempts: int = 0
    """Sends to FCM so far (deferrals by the breaker or the auth alarm do not count)."""
    first_ms: int = 0
    """Unix ms of the first send to FCM (0 before it), for the age budget."""
    source_id: str = ""
    """The push job's stream entry id, for dead letters."""
    last_error: str = ""

    @property
    def target(self) -> str:
        return self.token or f"/topics/{self.topic}"

    @property
    def target_digest(self) -> str:
        """Short stable name of the target: the sent-marker field (tokens can be 4 KB long)."""
        return target_digest(self.target)

    @property
    def retry_id(self) -> str:
        """One retry per (notification, target): scheduling it twice overwrites, never doubles."""
        return f"{self.notification.id}|{self.target_digest}"

    @property
    def label(self) -> str:
        """For logs and reasons: the topic, or the platform and a token fingerprint (never the token)."""
        if self.topic:
            return f"topic {self.topic}"
        return f"{self.platform} device …{self.target_digest[:8]} of user {self.user_id}"


def target_digest(target: str) -> str:
    return hashlib.blake2b(target.encode(), digest_size=8).hexdigest()


encode_send = msgspec.json.Encoder().encode
decode_send = msgspec.json.Decoder(Send).decode
