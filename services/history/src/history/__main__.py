"""`python -m history`"""

import asyncio
import sys

from notify_common.config import load_or_exit
from notify_common.logging import configure_logging

from history.app import main
from history.config import HistoryConfig

cfg = load_or_exit(HistoryConfig)
configure_logging("history", cfg.node_id, cfg.log_format, cfg.log_level)
sys.exit(asyncio.run(main(cfg)))
