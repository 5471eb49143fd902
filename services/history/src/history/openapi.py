"""OpenAPI 3.1 description of the inbox API, served at /openapi.json (a test keeps it in step
with the routes)."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_USER: list[dict[str, list[str]]] = [{"userJwt": []}]
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
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


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "ok", "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Notification inbox (history)",
        "version": "1",
        "description": "A user's notifications, read state, and admin views of delivery. "
        "See docs/protocol.md section 7.",
    },
    "paths": {
        "/v1/inbox": {
            "get": {
                "summary": "List the caller's notifications, newest first (cursor pagination).",
                "operationId": "listInbox",
                "tags": ["inbox"],
                "security": _USER,
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "default": 20},
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "unread", "in": "query", "schema": {"type": "boolean", "default": False}},
                    {"name": "type", "in": "query", "schema": {"type": "string"}},
                    _TOPIC,
                ],
                "responses": {"200": _ok(_ref("Page")), "400": _ERROR, "401": _ERROR},
            }
        },
        "/v1/inbox/unread-count": {
            "get": {
                "summary": "How many of the caller's notifications are unread.",
                "operationId": "getUnreadCount",
                "tags": ["inbox"],
                "security": _USER,
                "parameters": [_TOPIC],
                "responses": {
                    "200": _ok({"type": "object", "properties": {"unread": {"type": "integer"}}}),
                    "401": _ERROR,
                },
            }
        },
        "/v1/inbox/{id}/read": {
            "post": {
                "summary": "Mark one notification read; the caller's other devices get `inbox.read`.",
                "operationId": "markRead",
                "tags": ["inbox"],
                "security": _USER,
                "parameters": [_ID, _TOPIC],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {"id": {"type": "string"}, "changed": {"type": "boolean"}},
                        }
                    ),
                    "401": _ERROR,
                    "404": _ERROR,
                },
            }
        },
        "/v1/inbox/read-all": {
            "post": {
                "summary": "Mark everything read up to now; the caller's other devices get `inbox.read`.",
                "operationId": "markAllRead",
                "tags": ["inbox"],
                "security": _USER,
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {"marked": {"type": "integer"}, "read_ms": {"type": "integer"}},
                        }
                    ),
                    "401": _ERROR,
                },
            }
        },
        "/v1/admin/notifications/{id}": {
            "get": {
                "summary": "One notification's recipients, read state and full delivery trail.",
                "operationId": "getNotificationTrail",
                "tags": ["admin"],
                "security": _ADMIN,
                "parameters": [_ID],
                "responses": {"200": _ok(_ref("Trail")), "401": _ERROR, "403": _ERROR, "404": _ERROR},
            }
        },
        "/v1/admin/stats": {
            "get": {
                "summary": "Sent, delivered on socket, pushed, failed and read per type and UTC day.",
                "operationId": "getDeliveryStats",
                "tags": ["admin"],
                "security": _ADMIN,
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {"days": {"type": "array", "items": _ref("TypeDayStats")}},
                        }
                    ),
                    "400": _ERROR,
                    "401": _ERROR,
                    "403": _ERROR,
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getHistoryOpenApi",
                "tags": ["meta"],
                "summary": "This description.",
                "responses": {"200": _ok({"type": "object"})},
            }
        },
    },
    "components": {
        "securitySchemes": {
            "userJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "adminToken": {"type": "http", "scheme": "bearer"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {"type": "string", "description": "What to fix (`unauthorized` on a 401)."},
                    "detail": {"type": "string", "description": "401 only: which token to send."},
                },
                "required": ["error"],
            },
            "Item": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "type": {"type": "string"},
                    "category": _NULLABLE_STR,
                    "title": {"type": "string"},
                    "body": {"type": "string"},
                    "data": {"type": "object"},
                    "priority": {"enum": ["low", "normal", "high"]},
                    "created_ms": {"type": "integer"},
                    "expires_ms": _NULLABLE_INT,
                    "room": {**_NULLABLE_STR, "description": "set for broadcasts: role:<r>, all, topic:<t>"},
                    "read_ms": _NULLABLE_INT,
                },
            },
            "Page": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": _ref("Item")},
                    "next_cursor": {
                        **_NULLABLE_STR,
                        "description": "pass as `cursor`; null on the last page",
                    },
                },
            },
            "Trail": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "type": _NULLABLE_STR,
                    "audience": _NULLABLE_STR,
                    "room": _NULLABLE_STR,
                    "title": _NULLABLE_STR,
                    "created_ms": _NULLABLE_INT,
                    "recipients": {"type": "array", "items": _ref("Recipient")},
                    "broadcast_reads": {"type": "array", "items": _ref("Recipient")},
                    "deliveries": {"type": "array", "items": _ref("TrailEntry")},
                },
            },
            "Recipient": {
                "type": "object",
                "properties": {"user_id": {"type": "string"}, "read_ms": _NULLABLE_INT},
            },
            "TrailEntry": {
                "type": "object",
                "properties": {
                    "user_id": {"type": "string"},
                    "kind": {
                        "enum": ["delivered", "acked", "read", "pushed", "push_failed", "expired", "dropped"]
                    },
                    "channel": {"enum": ["socket", "push", ""]},
                    "at_ms": {"type": "integer"},
                    "node": {"type": "string"},
                    "error": {"type": "string"},
                },
            },
            "TypeDayStats": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "day": {"type": "string", "format": "date"},
                    "notifications": {"type": "integer"},
                    "sent": {"type": "integer"},
                    "delivered_socket": {"type": "integer"},
                    "pushed": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "read": {"type": "integer"},
                    "delivered_rate": _NULLABLE_RATE,
                    "pushed_rate": _NULLABLE_RATE,
                    "failed_rate": _NULLABLE_RATE,
                    "read_rate": _NULLABLE_RATE,
                },
            },
        },
    },
}
