"""The AsyncAPI document: generated from the frame Structs, committed fresh, and true to what a
real node sends."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import msgspec
import pytest
from gateway.asyncapi import asyncapi_document, render
from gateway.server_frames import server_frame_decoder
from gwkit import RunningGateway, make_token, next_frame

DOC = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


def test_committed_document_is_the_generated_one() -> None:
    assert DOC.read_text() == render(), "docs/asyncapi.json is stale: run `make docs`"


def test_every_message_payload_names_a_schema_of_the_document() -> None:
    doc = asyncapi_document()
    schemas = doc["components"]["schemas"]
    for message in doc["components"]["messages"].values():
        assert message["payload"]["$ref"].rsplit("/", 1)[1] in schemas
    for operation in doc["operations"].values():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
        for ref in operation["messages"]:
            assert ref["$ref"].rsplit("/", 1)[1] in doc["channels"][channel]["messages"]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping"},
        {"type": "subscribe", "topic": "news"},
        {"type": "subscribe", "topic": "secret"},
        {"type": "unsubscribe", "topic": "news"},
        {"type": "device.register", "token": "fcm-1", "platform": "web"},
        {"type": "device.unregister", "token": "fcm-1"},
        {"type": "auth", "token": make_token("42", topics=["news"])},
        {"type": "untrack", "user_id": "d1"},
        {"type": "nope"},
    ],
)
async def test_what_a_node_sends_decodes_as_a_documented_server_frame(
    http: aiohttp.ClientSession, gateway: RunningGateway, frame: dict[str, object]
) -> None:
    headers = {"Authorization": f"Bearer {make_token('42', topics=['news'])}"}
    async with http.ws_connect(gateway.url(), headers=headers) as ws:
        sent = [await next_frame(ws), await next_frame(ws)]  # hello, catchup.done
        await gateway.deliver("n-1", user_ids=["42"])
        sent.append(await next_frame(ws))
        await ws.send_json(frame)
        sent.append(await next_frame(ws))
    for one in sent:
        server_frame_decoder.decode(msgspec.json.encode(one))
