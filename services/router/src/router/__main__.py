"""`python -m router`"""

import asyncio
import sys

from notify_common.config import load_or_exit
from notify_common.logging import configure_logging

from router.app import main
from router.config import RouterConfig

cfg = load_or_exit(RouterConfig)
configure_logging("router", cfg.node_id, cfg.log_format, cfg.log_level)
sys.exit(asyncio.run(main(cfg)))
