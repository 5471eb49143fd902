"""What every OpenAPI document of the fleet is built from: schema references, JSON bodies, the
user JWT scheme and the one error body that `http_auth` answers with (`json_error`, the 401)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

SCHEMA_REF = "#/components/schemas/{name}"
USER_JWT = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
"""The security scheme of routes that take a user JWT."""


def ref(name: str) -> dict[str, str]:
    """A reference to the schema `name` in `components.schemas`."""
    return {"$ref": SCHEMA_REF.format(name=name)}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A response (or, without its description, a request body) of JSON in `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def struct_schemas(structs: Iterable[type[msgspec.Struct]]) -> dict[str, Any]:
    """The JSON Schemas of `structs` and of what they refer to, for `components.schemas`."""
    _, schemas = msgspec.json.schema_components(list(structs), ref_template=SCHEMA_REF)
    return schemas


def error_schema(**extra_properties: dict[str, Any]) -> dict[str, Any]:
    """The error body of every API: `error`, and on a 401 `detail` (plus an API's own fields)."""
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "string",
                "description": "What is wrong, for the developer of the caller (`unauthorized` on a 401).",
            },
            "detail": {
                "type": "string",
                "description": "401 only: which token to send, and why this one failed.",
            },
            **extra_properties,
        },
    }
