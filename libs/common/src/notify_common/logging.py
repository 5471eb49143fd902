"""structlog set up once per process: JSON lines in production, readable in a terminal.

Records from the standard library's `logging` (aiohttp, asyncio, redis, google-auth, warnings)
go through structlog's ProcessorFormatter with the same processors, so a log collector sees one
format on stderr, never a plain-text line between JSON ones.
"""

from __future__ import annotations

import logging
import re
import sys
from types import TracebackType

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# Credentials that can reach a log line inside a URL or a header: `?token=<jwt>` (browsers
# connecting to the gateway), `Authorization: Bearer …`, and `scheme://user:password@host`.
_SECRETS = re.compile(
    r"(?P<query>[?&](?:access_token|id_token|refresh_token|token|jwt|api_key)=)[^&\s\"']+"
    # Capitalised as in the header, and 8+ characters: "basic auth" in a message stays readable.
    r"|(?P<scheme>\b(?-i:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<userinfo>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@",
    re.IGNORECASE,
)
REDACTED = "[REDACTED]"


def _redacted(match: re.Match[str]) -> str:
    if match["userinfo"]:
        return f"{match['userinfo']}{REDACTED}@"
    return f"{match['query'] or match['scheme']}{REDACTED}"


def redact(text: str) -> str:
    """`text` with query-string tokens, Bearer/Basic credentials and URL passwords masked."""
    return _SECRETS.sub(_redacted, text)


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: mask credentials in every string value of a log line."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def _add_fields(service: str, node_id: str) -> Processor:
    # Added by a processor, not bound in contextvars: threads started outside the event loop
    # (executors, client libraries) do not inherit the context, their lines would lack them.
    def add(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        event_dict.setdefault("node", node_id)
        return event_dict

    return add


def configure_logging(service: str, node_id: str, fmt: str = "json", level: str = "info") -> None:
    """Configure structlog and stdlib logging; `service` and `node` are on every line."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_fields(service, node_id),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if fmt == "console":
        # ConsoleRenderer prints exc_info itself (and warns if it was formatted before).
        shared.append(redact_secrets)
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        shared += [structlog.processors.format_exc_info, redact_secrets]
        renderer = structlog.processors.JSONRenderer()
    threshold = getattr(logging, level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    # Libraries are chatty below WARNING; aiohttp's access log (off by default, see
    # notify_common.ops) follows LOG_LEVEL so turning it on needs no second switch.
    logging.basicConfig(handlers=[handler], level=max(threshold, logging.WARNING), force=True)
    logging.getLogger("aiohttp.access").setLevel(threshold)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """An exception that ends the process is one log line too, not a bare traceback."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    structlog.get_logger("notify_common.logging").critical("uncaught_exception", exc_info=(kind, exc, tb))
