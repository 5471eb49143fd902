"""The OpenAPI 3.1 description of the router's HTTP API, served at GET /v1/openapi.json.

Request schemas are generated from the same msgspec Structs the router validates with, so the
document cannot drift from the checks.
"""

from __future__ import annotations

import functools
from typing import Any

from notify_common.openapi import USER_JWT, error_schema, json_body, ref, struct_schemas
from notify_common.schemas import Event

from router.preferences import Preferences


def _error(description: str) -> dict[str, Any]:
    return json_body(ref("Error"), description)


def _ok(description: str, schema: str) -> dict[str, Any]:
    return json_body(ref(schema), description)


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


_EXTRA_SCHEMAS: dict[str, Any] = {
    "Error": error_schema(
        errors={
            "type": "array",
            "description": "Batch only: the invalid events by position.",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "error": {"type": "string"}},
            },
        }
    ),
    "Published": {
        "type": "object",
        "required": ["id", "entry_id"],
        "properties": {
            "id": {
                "type": "string",
                "description": "The notification id (the event's `id`, or `evt-<entry_id>`).",
            },
            "entry_id": {"type": "string", "description": "The ingress stream entry id."},
        },
    },
    "PublishedBatch": {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": ref("Published")}},
    },
    "EventBatch": {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {"events": {"type": "array", "minItems": 1, "items": ref("Event")}},
    },
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    unauthorized = _error(
        'Missing or invalid token: `{"error": "unauthorized", "detail": …}` with `WWW-Authenticate: Bearer`.'
    )
    unavailable = _error("Redis is unreachable; retry later.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Notification router API",
            "version": "1",
            "description": "Publish events over HTTP (service token) and manage a user's notification "
            "preferences (user JWT). See docs/protocol.md sections 2 and 3.",
        },
        "components": {
            "schemas": {**struct_schemas([Event, Preferences]), **_EXTRA_SCHEMAS},
            "securitySchemes": {
                "serviceToken": {"type": "http", "scheme": "bearer", "description": "One of SERVICE_TOKENS."},
                "userJwt": USER_JWT,
            },
        },
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Publish one event",
                    "operationId": "publishEvent",
                    "tags": ["events"],
                    "security": [{"serviceToken": []}],
                    "requestBody": _body("Event"),
                    "responses": {
                        "202": _ok("Appended to the ingress stream.", "Published"),
                        "400": _error("The event is invalid; `error` says why. Nothing was published."),
                        "401": unauthorized,
                        "413": _error("The body is larger than HTTP_MAX_BODY_BYTES."),
                        "503": unavailable,
                    },
                }
            },
            "/v1/events/batch": {
                "post": {
                    "summary": "Publish several events, all or none",
                    "operationId": "publishEventBatch",
                    "tags": ["events"],
                    "security": [{"serviceToken": []}],
                    "requestBody": _body("EventBatch"),
                    "responses": {
                        "202": _ok("All appended, in order.", "PublishedBatch"),
                        "400": _error(
                            "At least one event is invalid (`errors` lists them). Nothing was published."
                        ),
                        "401": unauthorized,
                        "413": _error("The body is larger than HTTP_MAX_BODY_BYTES."),
                        "503": unavailable,
                    },
                }
            },
            "/v1/preferences": {
                "get": {
                    "summary": "The caller's preferences",
                    "operationId": "getPreferences",
                    "tags": ["preferences"],
                    "security": [{"userJwt": []}],
                    "responses": {"200": _ok("Current preferences.", "Preferences"), "401": unauthorized},
                },
                "put": {
                    "summary": "Replace the caller's preferences",
                    "operationId": "putPreferences",
                    "tags": ["preferences"],
                    "security": [{"userJwt": []}],
                    "requestBody": _body("Preferences"),
                    "responses": {
                        "200": _ok("Stored preferences.", "Preferences"),
                        "400": _error("Invalid preferences."),
                        "401": unauthorized,
                    },
                },
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "getRouterOpenApi",
                    "tags": ["meta"],
                    "responses": {"200": {"description": "OpenAPI 3.1 JSON."}},
                }
            },
        },
    }
