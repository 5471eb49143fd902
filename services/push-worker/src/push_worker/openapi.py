"""The OpenAPI 3.1 description of the device token API, served at GET /v1/openapi.json.

The request body's schema is generated from the Struct the API decodes with (api.Registration),
so the document cannot drift from the check."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from notify_common.openapi import USER_JWT, error_schema, json_body, ref, struct_schemas

_DEVICE = {
    "type": "object",
    "required": ["token", "platform", "last_seen_ms"],
    "properties": {
        "token": {"type": "string", "description": "The FCM registration token."},
        "platform": {"type": "string", "enum": ["android", "ios", "web"]},
        "last_seen_ms": {"type": "integer", "description": "When it was last registered (ms)."},
    },
}


@functools.cache
def openapi_document(registration: type[msgspec.Struct]) -> dict[str, Any]:
    """The whole document (built once)."""
    unauthorized = json_body(
        ref("Error"), "Missing, invalid or expired user JWT (`WWW-Authenticate: Bearer`)."
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Push device token API (push-worker)",
            "version": "1",
            "description": "A signed-in user registers, lists and removes their push devices. "
            "See docs/protocol.md section 6.",
        },
        "components": {
            "schemas": {**struct_schemas([registration]), "Device": _DEVICE, "Error": error_schema()},
            "securitySchemes": {"userJwt": USER_JWT},
        },
        "paths": {
            "/v1/devices": {
                "get": {
                    "operationId": "listDevices",
                    "tags": ["devices"],
                    "summary": "The caller's devices, most recently seen first",
                    "security": [{"userJwt": []}],
                    "responses": {
                        "200": json_body(
                            {
                                "type": "object",
                                "properties": {"devices": {"type": "array", "items": ref("Device")}},
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
                        "content": {"application/json": {"schema": ref(registration.__name__)}},
                    },
                    "responses": {
                        "201": json_body(ref("Device"), "Registered; `last_seen_ms` is now."),
                        "400": json_body(ref("Error"), "Bad body, token or platform."),
                        "401": unauthorized,
                        "413": json_body(ref("Error"), "Body over 16 KiB."),
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
                        "404": json_body(ref("Error"), "The caller has no such device."),
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
