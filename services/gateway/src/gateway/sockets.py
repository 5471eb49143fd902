"""The connections this node holds, indexed by user, by room and by tracked user."""

from __future__ import annotations

from gateway.connection import Connection, room_name


class LocalSockets:
    """user -> connections, room -> connections, tracked user -> trackers; this node only."""

    def __init__(self) -> None:
        self.by_user: dict[str, Connection | set[Connection]] = {}
        """A user's one connection as is (most users have one; a set costs ~220 bytes), or a set."""
        self.count = 0
        """Connections held: read by the heartbeat's gauge, so not counted by walking the index."""
        self.by_room: dict[str, set[Connection]] = {}
        self.trackers: dict[str, set[Connection]] = {}

    def __len__(self) -> int:
        return self.count

    def add(self, conn: Connection) -> None:
        held = self.by_user.get(conn.user_id)
        if held is None:
            self.by_user[conn.user_id] = conn
        elif held is conn or (isinstance(held, set) and conn in held):
            return
        elif isinstance(held, Connection):
            self.by_user[conn.user_id] = {held, conn}
        else:
            held.add(conn)
        self.count += 1
        for room in conn.rooms:
            self.by_room.setdefault(room, set()).add(conn)

    def join(self, conn: Connection, room: str) -> None:
        if room not in conn.rooms:
            room = room_name(room)
            conn.rooms = (*conn.rooms, room)
            self.by_room.setdefault(room, set()).add(conn)

    def leave(self, conn: Connection, room: str) -> None:
        if room in conn.rooms:
            conn.rooms = tuple(r for r in conn.rooms if r != room)
            _discard(self.by_room, room, conn)

    def remove(self, conn: Connection) -> list[str]:
        """Forget `conn`; returns the users it tracked that no local connection tracks any more."""
        held = self.by_user.get(conn.user_id)
        if held is conn:
            self.count -= 1
            del self.by_user[conn.user_id]
        elif isinstance(held, set) and conn in held:
            self.count -= 1
            held.discard(conn)
            if len(held) <= 1:
                if held:
                    self.by_user[conn.user_id] = held.pop()
                else:
                    del self.by_user[conn.user_id]
        for room in conn.rooms:
            _discard(self.by_room, room, conn)
        orphaned = []
        for user in conn.tracked or ():
            if _discard(self.trackers, user, conn):
                orphaned.append(user)
        return orphaned

    def track(self, conn: Connection, user_id: str) -> bool:
        """True if this is the node's first tracker of `user_id` (subscribe to its channel)."""
        if conn.tracked is None:
            conn.tracked = set()
        conn.tracked.add(user_id)
        trackers = self.trackers.setdefault(user_id, set())
        trackers.add(conn)
        return len(trackers) == 1

    def untrack(self, conn: Connection, user_id: str) -> bool:
        """True if no local connection tracks `user_id` any more (unsubscribe)."""
        if conn.tracked is not None:
            conn.tracked.discard(user_id)
        return _discard(self.trackers, user_id, conn)

    def targets(self, user_ids: list[str], rooms: list[str]) -> list[Connection]:
        """Every connection of the users and rooms, each once; a single room is not copied twice."""
        if not user_ids and len(rooms) == 1:
            return list(self.by_room.get(rooms[0], ()))
        found: dict[Connection, None] = {}
        for user_id in user_ids:
            found.update(dict.fromkeys(_members(self.by_user.get(user_id))))
        for room in rooms:
            found.update(dict.fromkeys(self.by_room.get(room, ())))
        return list(found)

    def all(self) -> list[Connection]:
        return [conn for conns in self.by_user.values() for conn in _members(conns)]


def _members(held: Connection | set[Connection] | None) -> set[Connection] | tuple[Connection, ...]:
    if held is None:
        return ()
    return (held,) if isinstance(held, Connection) else held


def _discard(index: dict[str, set[Connection]], key: str, conn: Connection) -> bool:
    """Remove `conn` under `key`; True if that emptied the key (or it was absent)."""
    conns = index.get(key)
    if conns is None:
        return True
    conns.discard(conn)
    if not conns:
        del index[key]
        return True
    return False
