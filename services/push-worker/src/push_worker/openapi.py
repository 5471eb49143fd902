"""The OpenAPI 3.1 description of the device token API, served at GET /v1/openapi.json.

The request body's schema is generated from the Struct the API decodes with (api.Registration),
so the document cannot drift from the check."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

_REF = "#/components/schemas/{name}"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


_DEVICE = {
    "type": "object",
    "required": ["token", "platform", "last_seen_ms"],
    "properties": {
        "token": {"type": "string", "description": "The FCM registration token."},
        "platform": {"type": "string", "enum": ["android", "ios", "web"]},
        "last_seen_ms": {"type": "integer", "description": "When it was last registered (ms)."},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "Why (`unauthorized` on a 401)."},
        "detail": {"type": "string", "description": "401 only: why the token was refused."},
    },
}


@functools.cache
def openapi_document(registration: type[msgspec.Struct]) -> dict[str, Any]:
    """The whole document (built once)."""
    _, components = msgspec.json.schema_components([registration], ref_template=_REF)
    unauthorized = _json(_ref("Error"), "Missing, invalid or expired user JWT (`WWW-Authenticate: Bearer`).")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Push device token API (push-worker)",
            "version": "1",
            "description": "A signed-in user registers, lists and removes their push devices. "
            "See docs/protocol.md section 6.",
        },
        "components": {
            "schemas": {**components, "Device": _DEVICE, "Error": _ERROR},
            "securitySchemes": {"userJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "paths": {
            "/v1/devices": {
                "get": {
                    "operationId": "listDevices",
                    "tags": ["devices"],
                    "summary": "The caller's devices, most recently seen first",
                    "security": [{"userJwt": []}],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"devices": {"type": "array", "items": _ref("Device")}},
                            },
                            "The devices.",
                        ),
                        "401": unauthorized,
                    },
                },
                "post": {
                    "operationId": "registerDevice",
                    "tags": ["devices"],
                    "summary": "Register (or refresh) one of the caller's devices",
                    "security": [{"userJwt": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(registration.__name__)}},
                    },
                    "responses": {
                        "201": _json(_ref("Device"), "Registered; `last_seen_ms` is now."),
                        "400": _json(_ref("Error"), "Bad body, token or platform."),
                        "401": unauthorized,
                        "413": _json(_ref("Error"), "Body over 16 KiB."),
                    },
                },
            },
            "/v1/devices/{token}": {
                "delete": {
                    "operationId": "unregisterDevice",
                    "tags": ["devices"],
                    "summary": "Remove one of the caller's devices (e.g. on sign-out)",
                    "security": [{"userJwt": []}],
                    "parameters": [
                        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "204": {"description": "Removed."},
                        "401": unauthorized,
                        "404": _json(_ref("Error"), "The caller has no such device."),
                    },
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "operationId": "getPushOpenApi",
                    "tags": ["meta"],
                    "summary": "This document (no token needed)",
                    "responses": {"200": {"description": "OpenAPI 3.1 JSON."}},
                }
            },
        },
    }
