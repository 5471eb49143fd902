"""`python -m push_worker`"""

import asyncio
import sys

from notify_common.config import ConfigError, fail, load_or_exit
from notify_common.logging import configure_logging

from push_worker.app import main
from push_worker.config import PushConfig
from push_worker.fcm import load_credential

cfg = load_or_exit(PushConfig)
try:
    credential = load_credential(cfg)
except ConfigError as exc:
    fail(str(exc))
configure_logging("push-worker", cfg.node_id, cfg.log_format, cfg.log_level)
sys.exit(asyncio.run(main(cfg, credential)))
