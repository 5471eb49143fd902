"""Point the unmodified firebase-admin SDK at the fake (its FCM URL is a private class constant)."""

from __future__ import annotations

FCM_PATH = "/v1/projects/{0}/messages:send"


def point_sdk_at(base_url: str) -> None:
    """Redirect every messaging call created afterwards to `base_url`.

    firebase-admin 7.x formats `_MessagingService.FCM_URL` once per app; there is no supported
    override (no FCM emulator). Fail loudly if the private name moves in a new SDK release.
    """
    from firebase_admin import messaging

    service = getattr(messaging, "_MessagingService", None)
    if service is None or not hasattr(service, "FCM_URL"):
        raise RuntimeError(
            "firebase_admin.messaging._MessagingService.FCM_URL is gone: this SDK version cannot "
            "be pointed at the fake FCM; pin firebase-admin to the tested major version"
        )
    service.FCM_URL = base_url.rstrip("/") + FCM_PATH
