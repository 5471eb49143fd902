"""Redis stream entry ids (`<unix ms>-<sequence>`): read, compare and step them in one place."""

from __future__ import annotations

EntryKey = tuple[int, int]
"""An entry id as (milliseconds, sequence): tuples compare in stream order."""


def id_text(raw: bytes | str) -> str:
    """An entry id (or any name) as Redis returned it, as text."""
    return raw.decode() if isinstance(raw, bytes) else raw


def id_key(entry_id: bytes | str) -> EntryKey:
    """(milliseconds, sequence) of an entry id, for comparing ids; `<ms>` alone means sequence 0.

    Raises ValueError when `entry_id` is not an entry id."""
    ms, _, seq = id_text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def id_ms(entry_id: bytes | str) -> int:
    """The millisecond timestamp Redis put in a stream entry id."""
    return int(id_text(entry_id).split("-", 1)[0])


def id_of(key: EntryKey) -> str:
    """The entry id of a (milliseconds, sequence) pair."""
    return f"{key[0]}-{key[1]}"


def next_id(entry_id: bytes | str) -> str:
    """The lowest id strictly after `entry_id` (same millisecond, next sequence)."""
    ms, seq = id_key(entry_id)
    return id_of((ms, seq + 1))


def after(entry_id: str) -> str:
    """An exclusive XRANGE/XREVRANGE bound: entries strictly after (or before) `entry_id`."""
    return "(" + entry_id
