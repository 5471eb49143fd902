"""The AsyncAPI 3 document of the gateway's WebSocket and SSE frames, generated from the frame
Structs (frames.ClientFrame, server_frames.ServerFrame). `make docs` writes docs/asyncapi.json;
a test fails when the committed file is stale.

    python -m gateway.asyncapi docs/asyncapi.json
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

import msgspec

from gateway import frames, server_frames

_SCHEMA_REF = "#/components/schemas/{name}"


def _members(union: Any) -> list[type[msgspec.Struct]]:
    return list(typing.get_args(union))


def _tag(struct: type[msgspec.Struct]) -> str:
    return str(struct.__struct_config__.tag)


def _message(struct: type[msgspec.Struct]) -> dict[str, Any]:
    tag = _tag(struct)
    message: dict[str, Any] = {
        "name": tag,
        "title": f"`{tag}` frame",
        "contentType": "application/json",
        "payload": {"$ref": _SCHEMA_REF.format(name=struct.__name__)},
    }
    if struct.__doc__ and not struct.__doc__.startswith(struct.__name__ + "("):
        message["summary"] = struct.__doc__.strip()
    return message


def _refs(structs: list[type[msgspec.Struct]], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{s.__name__}": {"$ref": f"#/components/messages/{prefix}{s.__name__}"} for s in structs}


def _operation(
    action: str, title: str, channel: str, structs: list[type[msgspec.Struct]], prefix: str
) -> dict[str, Any]:
    return {
        "action": action,
        "title": title,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{prefix}{s.__name__}"} for s in structs],
    }


def asyncapi_document() -> dict[str, Any]:
    """The whole document, deterministic (sorted keys when written)."""
    client = _members(frames.ClientFrame)
    server = _members(server_frames.ServerFrame)
    sse: list[type[msgspec.Struct]] = list(server_frames.SSE_FRAMES)
    _, schemas = msgspec.json.schema_components(client + server, ref_template=_SCHEMA_REF)
    messages = {f"client{s.__name__}": _message(s) for s in client}
    messages.update({f"server{s.__name__}": _message(s) for s in server})
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Notification gateway: WebSocket and SSE frames",
            "version": "1",
            "description": "Every frame is one UTF-8 JSON object tagged by `type`. Prose, close codes "
            "and limits: docs/protocol.md sections 4 and 5. Generated from the gateway's frame "
            "Structs by `python -m gateway.asyncapi`; do not edit by hand.",
        },
        "servers": {
            "gateway": {
                "host": "localhost:8080",
                "protocol": "ws",
                "description": "Any gateway node (a plain load balancer in front).",
                "security": [{"$ref": "#/components/securitySchemes/userJwt"}],
            },
            "gatewayHttp": {
                "host": "localhost:8080",
                "protocol": "http",
                "description": "The same nodes, for Server-Sent Events.",
                "security": [{"$ref": "#/components/securitySchemes/userJwt"}],
            },
        },
        "channels": {
            "websocket": {
                "address": "/ws",
                "title": "WebSocket session",
                "description": "Token as `Authorization: Bearer`, `?token=` or a first `auth` frame; "
                "`?last_id=` resumes, `?topics=a,b` joins topics.",
                "servers": [{"$ref": "#/servers/gateway"}],
                "messages": {**_refs(client, "client"), **_refs(server, "server")},
            },
            "events": {
                "address": "/events",
                "title": "Server-Sent Events session",
                "description": "One `data:` line per frame, `id:` = the notification id; "
                "`Last-Event-ID` or `?last_id=` resumes.",
                "servers": [{"$ref": "#/servers/gatewayHttp"}],
                "messages": _refs(sse, "server"),
            },
        },
        "operations": {
            "receiveClientFrames": _operation(
                "receive", "Frames a client sends on its WebSocket", "websocket", client, "client"
            ),
            "sendServerFrames": _operation(
                "send", "Frames the gateway sends on a WebSocket", "websocket", server, "server"
            ),
            "sendEvents": _operation(
                "send", "Frames the gateway sends on an SSE stream", "events", sse, "server"
            ),
        },
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "userJwt": {"type": "httpApiKey", "name": "token", "in": "query", "description": "User JWT."}
            },
        },
    }


def render() -> str:
    return (
        msgspec.json.format(msgspec.json.encode(asyncapi_document(), order="sorted"), indent=2).decode()
        + "\n"
    )


def main() -> None:
    Path(sys.argv[1]).write_text(render())


if __name__ == "__main__":
    main()
