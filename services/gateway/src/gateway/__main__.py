"""`python -m gateway`"""

import asyncio
import resource
import sys

from notify_common.config import load_or_exit
from notify_common.logging import configure_logging

from gateway.app import main
from gateway.config import GatewayConfig

cfg = load_or_exit(GatewayConfig)
configure_logging("gateway", cfg.node_id, cfg.log_format, cfg.log_level)
# Every client socket is a descriptor: hold as many as the hard limit allows, not the soft default.
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
sys.exit(asyncio.run(main(cfg)))
