"""Receipts: every service reports what happened to a notification the same way.

One receipt is one entry of its user's receipts shard (`Keys.receipts_for`) with the `Receipt`
JSON in the field `receipt`; history consumes them. Callers hand the command to the consumer as an effect
(sent with its XACK) or queue it on a pipeline with `pipe.execute_command(*command)`.
"""

from __future__ import annotations

from notify_common.keys import Keys
from notify_common.redis_line import Command
from notify_common.schemas import FIELD_RECEIPT, Receipt, encode


def receipt_command(keys: Keys, receipt: Receipt) -> Command:
    """The XADD that appends `receipt` to the receipts shard of its user."""
    return ("XADD", keys.receipts_for(receipt.user_id), "*", FIELD_RECEIPT, encode(receipt))
