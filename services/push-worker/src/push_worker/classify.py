"""Every FCM outcome in one of five verdicts; pure functions of the SDK's exception.

- ok: FCM accepted the message.
- token_dead: the token will never work again (UNREGISTERED, not a valid token, another sender's
  token) -> remove it, report push_failed.
- rejected: this message can never be sent (bad argument, too big) -> dead-letter.
- retry: transient (429, 500, 503, timeouts, dropped connections) -> durable retry with backoff,
  honouring Retry-After; `down` ones also count towards the circuit breaker.
- auth: our credentials or the platform credentials in Firebase are wrong -> stop and alarm,
  keep the message.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Literal

import httpx
from firebase_admin import exceptions, messaging
from google.auth import exceptions as auth_exceptions

Verdict = Literal["ok", "token_dead", "rejected", "retry", "auth"]


@dataclass(frozen=True, slots=True)
class Classified:
    """What to do about one send's outcome."""

    verdict: Verdict
    code: str = ""
    detail: str = ""
    retry_after_s: float | None = None
    down: bool = False
    """The failure says FCM itself is unavailable (feeds the circuit breaker)."""
    platform_wide: bool = False
    """An auth failure of one platform's credentials (APNs, web push), not of ours."""

    @property
    def error(self) -> str:
        """`CODE: detail`, the text receipts and dead letters carry."""
        return f"{self.code}: {self.detail}" if self.detail else self.code


OK = Classified("ok")
_TOKEN_WORDS = ("registration token", "not a valid fcm")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - (time.time() if now is None else now))


def retry_after_of(exc: exceptions.FirebaseError) -> float | None:
    """The Retry-After the SDK's async path ignores: read it from the raw response."""
    response = exc.http_response
    if response is None:
        return None
    return parse_retry_after(response.headers.get("Retry-After"))


def _detail(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def classify(exc: BaseException | None) -> Classified:
    """The verdict on one send (`exc` is None for a success)."""
    if exc is None:
        return OK
    if isinstance(exc, ValueError):  # the SDK refused to encode the message: it never will
        return Classified("rejected", "INVALID_MESSAGE", _detail(exc))
    if not isinstance(exc, exceptions.FirebaseError):
        return _classify_cause(exc) or Classified("retry", type(exc).__name__, _detail(exc), down=True)
    detail = _detail(exc)
    match exc:
        case messaging.UnregisteredError():
            return Classified("token_dead", "UNREGISTERED", detail)
        case messaging.SenderIdMismatchError():
            return Classified("token_dead", "SENDER_ID_MISMATCH", detail)
        case messaging.ThirdPartyAuthError():
            return Classified("auth", "THIRD_PARTY_AUTH_ERROR", detail, platform_wide=True)
        case messaging.QuotaExceededError():
            return Classified("retry", "QUOTA_EXCEEDED", detail, retry_after_of(exc), down=True)
        case exceptions.InvalidArgumentError():
            if any(word in detail.lower() for word in _TOKEN_WORDS):
                return Classified("token_dead", "INVALID_TOKEN", detail)
            return Classified("rejected", "INVALID_ARGUMENT", detail)
        case exceptions.UnauthenticatedError() | exceptions.PermissionDeniedError():
            return Classified("auth", exc.code, detail)
        case (
            exceptions.ResourceExhaustedError()
            | exceptions.UnavailableError()
            | exceptions.InternalError()
            | exceptions.DeadlineExceededError()
        ):
            return Classified("retry", exc.code, detail, retry_after_of(exc), down=True)
        case exceptions.UnknownError():
            return _classify_cause(exc.cause) or Classified("retry", exc.code, detail, down=True)
        case exceptions.NotFoundError() | exceptions.FailedPreconditionError() | exceptions.OutOfRangeError():
            return Classified("rejected", exc.code, detail)
    return Classified("retry", exc.code, detail, retry_after_of(exc))


def _classify_cause(cause: BaseException | None) -> Classified | None:
    """send_each_async wraps a failed OAuth refresh or a transport error in UnknownError."""
    match cause:
        case auth_exceptions.RefreshError():
            return Classified("auth", "CREDENTIALS", f"OAuth token refresh failed: {_detail(cause)}")
        case auth_exceptions.TransportError() | httpx.TransportError():
            return Classified("retry", "UNAVAILABLE", f"{type(cause).__name__}: {_detail(cause)}", down=True)
    return None
