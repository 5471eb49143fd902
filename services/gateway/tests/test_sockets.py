"""The node's connection index: one connection per user held without a set, shared room tuples."""

from __future__ import annotations

from aiohttp import web
from gateway.connection import Connection
from gateway.sockets import LocalSockets
from notify_common.jwt_auth import Principal
from notify_common.rooms import ALL, role_room, topic_room


def _conn(user_id: str, roles: tuple[str, ...] = ("driver",)) -> Connection:
    return Connection(web.WebSocketResponse(), None, Principal(user_id, roles, None), set())


def test_a_users_connections_are_found_counted_and_forgotten_one_or_many() -> None:
    sockets = LocalSockets()
    a1, a2, b = _conn("a"), _conn("a"), _conn("b", ("rider",))
    for conn in (a1, a2, b):
        sockets.add(conn)
    sockets.add(a1)  # twice is once
    assert len(sockets) == 3
    assert sorted(map(id, sockets.targets(["a"], []))) == sorted([id(a1), id(a2)])
    assert sockets.targets([], [role_room("rider")]) == [b]
    sockets.remove(a1)
    assert sockets.by_user["a"] is a2 and len(sockets) == 2
    sockets.remove(a2)
    sockets.remove(a2)  # twice is once
    assert "a" not in sockets.by_user and len(sockets) == 1
    assert sockets.all() == [b]


def test_connections_with_the_same_roles_share_one_rooms_tuple_until_one_joins() -> None:
    sockets = LocalSockets()
    first, second = _conn("a"), _conn("b")
    driver, news = role_room("driver"), topic_room("news")
    assert first.rooms is second.rooms == (driver, ALL)
    sockets.add(first)
    sockets.add(second)
    sockets.join(first, news)
    assert first.rooms == (driver, ALL, news) and second.rooms == (driver, ALL)
    sockets.leave(first, news)
    assert first.rooms == (driver, ALL) and news not in sockets.by_room
