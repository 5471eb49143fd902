"""The sockets this node holds, indexed by user and by room."""

from __future__ import annotations

from collections import defaultdict

from aiohttp import web


class LocalSockets:
    """user -> sockets and room -> sockets for this node only."""

    def __init__(self) -> None:
        self.by_user: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.by_room: dict[str, set[web.WebSocketResponse]] = defaultdict(set)

    def add(self, user_id: str, rooms: list[str], ws: web.WebSocketResponse) -> None:
        self.by_user[user_id].add(ws)
        for room in rooms:
            self.by_room[room].add(ws)

    def remove(self, user_id: str, rooms: list[str], ws: web.WebSocketResponse) -> None:
        _discard(self.by_user, user_id, ws)
        for room in rooms:
            _discard(self.by_room, room, ws)

    def targets(self, user_ids: list[str], rooms: list[str]) -> set[web.WebSocketResponse]:
        found: set[web.WebSocketResponse] = set()
        for user_id in user_ids:
            found |= self.by_user.get(user_id, set())
        for room in rooms:
            found |= self.by_room.get(room, set())
        return found

    def all(self) -> set[web.WebSocketResponse]:
        return {ws for sockets in self.by_user.values() for ws in sockets}


def _discard(index: dict[str, set[web.WebSocketResponse]], key: str, ws: web.WebSocketResponse) -> None:
    sockets = index.get(key)
    if sockets is not None:
        sockets.discard(ws)
        if not sockets:
            del index[key]
