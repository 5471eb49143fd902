"""A local fake of the FCM HTTP v1 API and Google's OAuth2 token endpoint.

DEVELOPMENT AND TEST TOOL, NOT PRODUCTION CODE. It lets the unmodified firebase-admin SDK run
offline: `make run` pushes through it, the tests script its failures, the benchmarks measure
against it. Nothing here is ever imported by a service, and importing it never imports
firebase-admin (only `fcm_fake.sdk.point_sdk_at` does, when called).
"""

from fcm_fake.behaviours import DEFAULT_PREFIX_RULES, KINDS, Behaviour, Script
from fcm_fake.credentials import write_service_account
from fcm_fake.runner import FakeHandle, start_in_thread
from fcm_fake.sdk import point_sdk_at
from fcm_fake.server import FakeState, Received

__all__ = [
    "DEFAULT_PREFIX_RULES",
    "KINDS",
    "Behaviour",
    "FakeHandle",
    "FakeState",
    "Received",
    "Script",
    "point_sdk_at",
    "start_in_thread",
    "write_service_account",
]
