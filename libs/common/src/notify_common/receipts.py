"""Receipts: every service reports what happened to a notification the same way.

One receipt is one entry of the receipts stream (`Keys.receipts`) with the `Receipt` JSON in the
field `receipt`; history consumes them. Callers hand the command to the consumer as an effect
(sent with its XACK) or queue it on a pipeline with `pipe.execute_command(*command)`.
"""

from __future__ import annotations

from notify_common.redis_line import Command
from notify_common.schemas import FIELD_RECEIPT, Receipt, encode


def receipt_command(stream: str, receipt: Receipt) -> Command:
    """The XADD that appends `receipt` to the receipts stream `stream`."""
    return ("XADD", stream, "*", FIELD_RECEIPT, encode(receipt))
