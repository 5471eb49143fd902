"""Error bodies in Google's shape, so the SDK maps them to its exception classes."""

from __future__ import annotations

from typing import Any

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# kind -> (HTTP status, canonical status, FCM errorCode)
ERRORS: dict[str, tuple[int, str, str]] = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED"),
    "invalid_argument": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "invalid_token": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "sender_id_mismatch": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    "quota": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "internal": (500, "INTERNAL", "INTERNAL"),
    "third_party_auth": (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
}


# Kinds whose real FCM message matters to clients (they tell a bad token from a bad payload).
MESSAGES: dict[str, str] = {
    "invalid_token": "The registration token is not a valid FCM registration token",
}


def error_body(kind: str, message: str) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body for a scripted error."""
    status, canonical, code = ERRORS[kind]
    message = MESSAGES.get(kind, message)
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": canonical,
            "details": [{"@type": FCM_ERROR_TYPE, "errorCode": code}],
        }
    }
    return status, body


def plain_error(status: int, canonical: str, message: str) -> dict[str, Any]:
    """A Google error without FCM details (e.g. a missing bearer token)."""
    return {"error": {"code": status, "message": message, "status": canonical}}
