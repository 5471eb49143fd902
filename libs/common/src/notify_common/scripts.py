"""Lua scripts sent by SHA1 (EVALSHA), never as text with every call.

A `Script` is its text and SHA1, computed once at import; the client it runs on is given per call,
so module-level functions that take a client share one object. redis-py's `register_script` binds
a client instead, and inside a pipeline it sends SCRIPT EXISTS before every execute: one more
round trip on paths (presence writes on every connect) that are one round trip on purpose. Here
a pipeline sends EVALSHA alone and, on the rare NOSCRIPT (Redis restarted or failed over with an
empty script cache), loads the script and sends again exactly the calls that did not run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis_async
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

Arg = bytes | str | int | float


class Script:
    """One Lua script; `script` and `sha` are the names redis-py's pipelines load scripts by."""

    def __init__(self, text: str) -> None:
        self.script = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    async def __call__(self, client: redis_async.Redis, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run the script once; a NOSCRIPT reply means it did not run, so it is loaded and sent again."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load(client)
            return await client.evalsha(self.sha, len(keys), *keys, *args)

    async def load(self, client: redis_async.Redis) -> None:
        """Put the script in the server's cache."""
        await client.script_load(self.script)

    def queue_checked(self, pipe: Pipeline, keys: Sequence[str], args: Sequence[Arg]) -> None:
        """Add a call to `pipe` that redis-py checks (SCRIPT EXISTS) and loads before executing it:
        for a MULTI, where a NOSCRIPT inside EXEC would leave the other commands applied."""
        pipe.scripts.add(self)
        pipe.evalsha(self.sha, len(keys), *keys, *args)


class ScriptCalls:
    """Script calls queued by SHA1 on a non-transactional pipeline, among its other commands."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self._calls: dict[int, tuple[Script, Sequence[str], Sequence[Arg]]] = {}

    def add(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> None:
        """Queue one call; its reply is at this position in `execute`'s replies."""
        self._calls[len(self.pipe)] = (script, keys, args)
        self.pipe.evalsha(script.sha, len(keys), *keys, *args)

    async def execute(self, client: redis_async.Redis) -> list[Any]:
        """Every reply in order; the first error reply is raised, as `Pipeline.execute` does.

        A call that found its script missing did nothing (the cache holds a script or not, for
        the whole pipeline), so the scripts are loaded and those calls alone sent again, in order.
        """
        replies: list[Any] = await self.pipe.execute(raise_on_error=False)
        missing = [i for i in self._calls if isinstance(replies[i], NoScriptError)]
        if missing:
            for script in {self._calls[i][0] for i in missing}:
                await script.load(client)
            again = client.pipeline(transaction=False)
            for i in missing:
                script, keys, args = self._calls[i]
                again.evalsha(script.sha, len(keys), *keys, *args)
            for i, reply in zip(missing, await again.execute(), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies
