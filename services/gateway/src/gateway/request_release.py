"""Let go of what aiohttp keeps of a WebSocket's upgrade request once the socket is open.

aiohttp holds the parsed request for the whole life of the connection (its handler tasks' frames
keep it): every header as str and as bytes, the URL with its query (a `?token=` among them) and
the HTTP parser, about 3.7 KB a connection that nothing reads after the upgrade (bench/FINDINGS.md
F10). aiohttp has no public way to release them, so this one function touches its internals;
tests/test_request_release.py fails loudly when an aiohttp upgrade renames or moves them.
"""

from __future__ import annotations

import functools

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


@functools.lru_cache(maxsize=64)
def _bare_url(path: str) -> URL:
    """One URL per route path, shared by its connections."""
    return URL.build(path=path)


def release_upgrade_request(request: web.Request) -> None:
    """Replace the request's headers, URL and parser by shared empty stand-ins.

    Call after the upgrade response is sent and everything needed from the request is read:
    `request.headers` and `request.query` are empty afterwards; `request.path` stays."""
    url = _bare_url(request._message.url.path)
    bare = request._message._replace(path=url.path, headers=_NO_HEADERS, raw_headers=(), url=url)
    request._message = bare
    request._headers = bare.headers
    request._rel_url = url
    request._cache.clear()
    # The HTTP parser is not used once the protocol reads WebSocket frames (aiohttp sets the
    # same to None itself when the connection is lost).
    request.protocol._parser = None
