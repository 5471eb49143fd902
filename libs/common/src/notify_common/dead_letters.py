"""The dead-letter envelope, built and read here only.

A dead letter is one entry of the dead-letter stream (`Keys.dead_letters`): `meta` holds the
`DeadLetter` JSON (where the entry came from and why it was given up), and every field of the
original entry rides along under `o:<name>`, so a replay appends exactly those fields again.
"""

from __future__ import annotations

from collections.abc import Mapping

from notify_common.redis_line import Command
from notify_common.schemas import DeadLetter, encode

META_FIELD = b"meta"
ORIGINAL_FIELD_PREFIX = b"o:"


def dead_letter_command(stream: str, meta: DeadLetter, original: Mapping[bytes, bytes]) -> Command:
    """The XADD that appends one dead letter to `stream`: `meta`, then each original field as
    `o:<name>`. Send it as a consumer effect or queue it with `pipe.execute_command(*command)`."""
    fields: list[bytes] = [META_FIELD, encode(meta)]
    for name, value in original.items():
        fields += [ORIGINAL_FIELD_PREFIX + name, value]
    return ("XADD", stream, "*", *fields)


def original_fields(fields: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """The original entry's fields carried by a dead letter (the `o:` prefix removed)."""
    n = len(ORIGINAL_FIELD_PREFIX)
    return {name[n:]: value for name, value in fields.items() if name.startswith(ORIGINAL_FIELD_PREFIX)}
