"""Python client SDK of the notification fleet (asyncio): the gateway session and the HTTP APIs."""

from notify_client.backoff import Backoff, ReconnectPlan, jittered, plan_reconnect, reconnect_hint_s
from notify_client.client import EVENTS, INBOX_READ_TYPE, NotifyClient, RequestError
from notify_client.http import ApiError, DevicesApi, InboxApi
from notify_client.seen import SeenIds

__all__ = [
    "EVENTS",
    "INBOX_READ_TYPE",
    "ApiError",
    "Backoff",
    "DevicesApi",
    "InboxApi",
    "NotifyClient",
    "ReconnectPlan",
    "RequestError",
    "SeenIds",
    "jittered",
    "plan_reconnect",
    "reconnect_hint_s",
]
