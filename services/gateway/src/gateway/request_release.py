"""Let go of what aiohttp keeps of a WebSocket's upgrade once the socket is open.

aiohttp keeps the upgrade request for the whole life of the connection: its request loop's
frame holds the parsed message (every header as str and bytes; ~2 KB that nothing public can
release, bench/FINDINGS.md F12). What can go: the HTTP parser (~760 bytes, idle once frames
are read), the request's cached properties (the parsed query) and the response's headers (sent
with the 101). The parser is an aiohttp internal, so this one function touches it, and
tests/test_request_release.py fails loudly when an aiohttp upgrade renames or moves it.
"""

from __future__ import annotations

from aiohttp import web


def release_upgrade(request: web.Request, response: web.StreamResponse) -> None:
    """Call after the upgrade response is sent and everything needed from the request is read
    (`request.query` is parsed again if read afterwards)."""
    response.headers.clear()  # public: they went out with the 101
    request._cache.clear()  # the reified properties, parsed query among them
    # aiohttp sets the same to None itself when the connection is lost; until then the parser
    # is unused once the protocol feeds WebSocket frames to the frame reader.
    request.protocol._parser = None
