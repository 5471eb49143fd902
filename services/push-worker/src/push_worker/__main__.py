"""`python -m push_worker`"""

import asyncio
import sys

from notify_common.config import load_or_exit
from notify_common.logging import configure_logging

from push_worker.app import main
from push_worker.config import PushConfig

cfg = load_or_exit(PushConfig)
configure_logging("push-worker", cfg.node_id, cfg.log_format, cfg.log_level)
sys.exit(asyncio.run(main(cfg)))
