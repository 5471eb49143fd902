"""One place that hands out the user's JWT: a fixed token, or the app's get_token() callback."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

GetToken = Callable[[], str | Awaitable[str]]


class TokenSource:
    def __init__(self, token: str | None = None, get_token: GetToken | None = None) -> None:
        if not token and get_token is None:
            raise ValueError("give a token or a get_token() callback")
        self.current = token
        self.get_token = get_token

    @property
    def renewable(self) -> bool:
        """Whether a new token can be had when the current one is refused."""
        return self.get_token is not None

    async def get(self, fresh: bool = False) -> str:
        """The token to use now; `fresh` asks the callback for a new one."""
        if (fresh or self.current is None) and self.get_token is not None:
            token = self.get_token()
            if inspect.isawaitable(token):
                token = await token
            if not isinstance(token, str) or not token:
                raise ValueError("get_token() returned no token")
            self.current = token
        if self.current is None:
            raise ValueError("no token")
        return self.current

    def set(self, token: str) -> None:
        self.current = token
