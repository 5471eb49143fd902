"""The OpenAPI 3.1 description of the inbox API, served at GET /openapi.json.

Response schemas are generated from the msgspec Structs the handlers return (records.py), so the
document cannot drift from the answers; a test keeps the paths in step with the routes.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from history.records import AllReadResult, Page, ReadResult, Stats, Trail, UnreadCount

_REF = "#/components/schemas/{name}"
_USER: list[dict[str, list[str]]] = [{"userJwt": []}]
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": _REF.format(name="Error")}}},
}
_TOPIC = {
    "name": "topic",
    "in": "query",
    "required": False,
    "description": "A topic the client joined; repeat for several. Its broadcasts join the inbox.",
    "schema": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}},
    "style": "form",
    "explode": True,
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What to fix (`unauthorized` on a 401)."},
        "detail": {"type": "string", "description": "401 only: which token to send."},
    },
    "required": ["error"],
}


def _ok(struct: type[msgspec.Struct] | None = None) -> dict[str, Any]:
    schema = {"$ref": _REF.format(name=struct.__name__)} if struct else {"type": "object"}
    return {"description": "ok", "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema}


def _operation(
    operation_id: str, summary: str, tag: str, answers: dict[str, dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {"summary": summary, "operationId": operation_id, "tags": [tag], **extra, "responses": answers}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    structs = [Page, UnreadCount, ReadResult, AllReadResult, Trail, Stats]
    _, components = msgspec.json.schema_components(structs, ref_template=_REF)
    page = [
        _query("limit", {"type": "integer", "minimum": 1, "default": 20}),
        _query("cursor", {"type": "string"}),
        _query("unread", {"type": "boolean", "default": False}),
        _query("type", {"type": "string"}),
        _TOPIC,
    ]
    days = [
        _query("from", {"type": "string", "format": "date"}),
        _query("to", {"type": "string", "format": "date"}),
    ]
    inbox = "inbox"
    admin = "admin"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Notification inbox (history)",
            "version": "1",
            "description": "A user's notifications, read state, and admin views of delivery. "
            "See docs/protocol.md section 7.",
        },
        "paths": {
            "/v1/inbox": {
                "get": _operation(
                    "listInbox",
                    "List the caller's notifications, newest first (cursor pagination).",
                    inbox,
                    {"200": _ok(Page), "400": _ERROR, "401": _ERROR},
                    security=_USER,
                    parameters=page,
                )
            },
            "/v1/inbox/unread-count": {
                "get": _operation(
                    "getUnreadCount",
                    "How many of the caller's notifications are unread.",
                    inbox,
                    {"200": _ok(UnreadCount), "401": _ERROR},
                    security=_USER,
                    parameters=[_TOPIC],
                )
            },
            "/v1/inbox/{id}/read": {
                "post": _operation(
                    "markRead",
                    "Mark one notification read; the caller's other devices get `inbox.read`.",
                    inbox,
                    {"200": _ok(ReadResult), "401": _ERROR, "404": _ERROR},
                    security=_USER,
                    parameters=[_ID, _TOPIC],
                )
            },
            "/v1/inbox/read-all": {
                "post": _operation(
                    "markAllRead",
                    "Mark everything read up to now; the caller's other devices get `inbox.read`.",
                    inbox,
                    {"200": _ok(AllReadResult), "401": _ERROR},
                    security=_USER,
                )
            },
            "/v1/admin/notifications/{id}": {
                "get": _operation(
                    "getNotificationTrail",
                    "One notification's recipients, read state and full delivery trail.",
                    admin,
                    {"200": _ok(Trail), "401": _ERROR, "403": _ERROR, "404": _ERROR},
                    security=_ADMIN,
                    parameters=[_ID],
                )
            },
            "/v1/admin/stats": {
                "get": _operation(
                    "getDeliveryStats",
                    "Sent, delivered on socket, pushed, failed and read per type and UTC day.",
                    admin,
                    {"200": _ok(Stats), "400": _ERROR, "401": _ERROR, "403": _ERROR},
                    security=_ADMIN,
                    parameters=days,
                )
            },
            "/openapi.json": {
                "get": _operation(
                    "getHistoryOpenApi",
                    "This description.",
                    "meta",
                    {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                )
            },
        },
        "components": {
            "securitySchemes": {
                "userJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "adminToken": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {**components, "Error": _ERROR_SCHEMA},
        },
    }
