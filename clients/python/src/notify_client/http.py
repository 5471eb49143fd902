"""The HTTP APIs a client app calls with the user's JWT: the inbox (history, docs/protocol.md
section 7) and devices (push-worker, section 6). A 401 asks get_token() once for a fresh token."""

from __future__ import annotations

from typing import Any

import aiohttp

from notify_client.tokens import GetToken, TokenSource


class ApiError(Exception):
    """A refused call: `status` and the server's reason (`{"error": …, "detail": …}`)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class _Api:
    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        token: str | None = None,
        get_token: GetToken | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session = session
        self.tokens = TokenSource(token, get_token)

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        status, answer = await self._send(method, path, body, params, fresh=False)
        if status == 401 and self.tokens.renewable:
            status, answer = await self._send(method, path, body, params, fresh=True)
        if status >= 400:
            reason = answer.get("detail") or answer.get("error") if isinstance(answer, dict) else None
            raise ApiError(status, str(reason or answer))
        return answer

    async def _send(
        self, method: str, path: str, body: Any, params: dict[str, str] | None, fresh: bool
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {await self.tokens.get(fresh)}"}
        async with self.session.request(
            method, self.base + path, json=body, params=params, headers=headers
        ) as resp:
            if resp.status == 204:
                return 204, None
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, {"error": await resp.text()}


class InboxApi(_Api):
    """The user's inbox on history: pages, unread count, read state."""

    async def list(
        self,
        limit: int = 20,
        cursor: str | None = None,
        unread: bool = False,
        type: str | None = None,
    ) -> dict[str, Any]:
        """One page, newest first: `{"items": [...], "next_cursor": ...}`."""
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if unread:
            params["unread"] = "true"
        if type:
            params["type"] = type
        page: dict[str, Any] = await self.call("GET", "/v1/inbox", params=params)
        return page

    async def unread_count(self) -> int:
        return int((await self.call("GET", "/v1/inbox/unread-count"))["unread"])

    async def mark_read(self, nid: str) -> bool:
        """Mark one read; True if it changed. The user's other devices get `read`."""
        return bool((await self.call("POST", f"/v1/inbox/{nid}/read"))["changed"])

    async def read_all(self) -> int:
        """Mark everything read up to now; how many changed."""
        return int((await self.call("POST", "/v1/inbox/read-all"))["marked"])


class DevicesApi(_Api):
    """The user's push devices on the push-worker."""

    async def list(self) -> list[dict[str, Any]]:
        devices: list[dict[str, Any]] = (await self.call("GET", "/v1/devices"))["devices"]
        return devices

    async def register(self, token: str, platform: str) -> dict[str, Any]:
        device: dict[str, Any] = await self.call(
            "POST", "/v1/devices", {"token": token, "platform": platform}
        )
        return device

    async def unregister(self, token: str) -> None:
        await self.call("DELETE", f"/v1/devices/{token}")
