"""Point the unmodified firebase-admin SDK at the fake (its FCM URL is a private class constant)."""

from __future__ import annotations

FCM_PATH = "/v1/projects/{0}/messages:send"


def point_sdk_at(base_url: str) -> None:
    """Redirect the messaging of every app used afterwards (sync and async paths) to `base_url`.

    firebase-admin 7.x formats the class constant `_MessagingService.FCM_URL` into each app's
    messaging service when that service is first used, so apps that already sent keep their URL.
    There is no supported override (no FCM emulator). Fail loudly if the private name moves or
    changes shape in a new SDK release. Process-wide: meant for tests and dev runs only.
    """
    from firebase_admin import messaging

    service = getattr(messaging, "_MessagingService", None)
    current = getattr(service, "FCM_URL", None)
    if service is None or not isinstance(current, str) or "{0}" not in current:
        raise RuntimeError(
            "firebase_admin.messaging._MessagingService.FCM_URL is gone: this SDK version cannot "
            "be pointed at the fake FCM; pin firebase-admin to the tested major version"
        )
    service.FCM_URL = base_url.rstrip("/") + FCM_PATH
