"""Typed configuration read from environment variables, validated once at start-up."""

from __future__ import annotations

import os
import re
import socket
import sys
import typing
from collections.abc import Mapping
from typing import Annotated, NoReturn, TypeVar
from urllib.parse import urlsplit

import msgspec

from notify_common.presence.liveness import DEFAULT_NODE_TTL_MS
from notify_common.redis_conn import CLUSTER_SCHEMES, SENTINEL_SCHEMES, parse_multi_host

T = TypeVar("T", bound=msgspec.Struct)

NodeId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
OpsPort = Annotated[Port, msgspec.Meta(description="Port of /healthz, /readyz and /metrics.")]
"""Every service declares `ops_port: OpsPort = <its default>` (each has its own default port)."""
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]


class ConfigError(Exception):
    """A configuration value is missing or invalid; the message names the variable."""


class CommonConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Settings every service shares; services subclass it with their own fields."""

    redis_url: Annotated[
        str,
        msgspec.Meta(
            description=(
                "redis://, rediss:// (TLS) or unix:// URL of one server; "
                "redis+cluster://host:port[,host:port...] for a Redis Cluster; "
                "redis+sentinel://host:port[,host:port...]/master-name[?db=N] for a Sentinel group "
                "(rediss+cluster, rediss+sentinel with TLS); with user:password@ if any."
            )
        ),
    ] = "redis://127.0.0.1:6379/0"
    key_prefix: Annotated[
        str,
        msgspec.Meta(pattern=r"^[a-z0-9_-]{1,32}$", description="Prefix of every Redis key of this fleet."),
    ] = "nf"
    node_id: Annotated[
        NodeId, msgspec.Meta(description="This replica's name (consumer name); empty = the host name.")
    ] = ""
    log_format: Annotated[
        typing.Literal["json", "console"],
        msgspec.Meta(description="One JSON object per line, or human-readable."),
    ] = "json"
    log_level: Annotated[
        typing.Literal["debug", "info", "warning", "error"], msgspec.Meta(description="Lowest level logged.")
    ] = "info"
    ops_host: Annotated[
        str, msgspec.Meta(description="Address of the ops server (/healthz, /readyz, /metrics).")
    ] = "0.0.0.0"
    ops_port: OpsPort = 9100
    metrics_token: Annotated[
        str, msgspec.Meta(description="Bearer token /metrics requires; empty = no token needed.")
    ] = ""
    shutdown_grace_s: Annotated[
        PositiveFloat,
        msgspec.Meta(description="On SIGTERM: time to finish work in hand before it is cancelled, seconds."),
    ] = 10.0
    # Stream consumer tuning shared by every consumer in the fleet.
    consumer_batch: Annotated[PositiveInt, msgspec.Meta(description="Stream entries read per batch.")] = 200
    consumer_block_ms: Annotated[
        PositiveInt, msgspec.Meta(description="How long one XREADGROUP waits for new entries, ms.")
    ] = 1000
    claim_idle_ms: Annotated[
        PositiveInt,
        msgspec.Meta(description="Pending entries idle this long are claimed by another consumer, ms."),
    ] = 30_000
    max_deliveries: Annotated[
        PositiveInt, msgspec.Meta(description="Deliveries of one entry before it is dead-lettered.")
    ] = 5
    stream_shards: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=1024)],
        msgspec.Meta(
            description=(
                "Shard streams the ingress, push and receipts streams are split into (crc32 of the"
                " recipient, see docs/architecture.md). Every publisher, service and notifyctl of a"
                " fleet must agree; 1 = one stream each, named as without sharding."
            )
        ),
    ] = 1
    node_ttl_ms: Annotated[
        PositiveInt,
        msgspec.Meta(
            description=(
                "A gateway node without a heartbeat for this long is dead: presence reads ignore it at"
                " once, then a surviving gateway cleans it up (ms). Gateways and routers must agree."
            )
        ),
    ] = DEFAULT_NODE_TTL_MS


def env_name(field: str) -> str:
    """The environment variable that sets a config field."""
    return field.upper()


def _field_types(cls: type[msgspec.Struct]) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _is_str_type(tp: typing.Any) -> bool:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if tp is str:
        return True
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(tp))
    return False


def _raw_value(tp: typing.Any, text: str) -> typing.Any:
    """Strings stay strings; everything else is parsed as JSON (numbers, bools, lists)."""
    if _is_str_type(tp):
        return text
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        if typing.get_origin(tp) is list or "list" in str(tp):
            return [part.strip() for part in text.split(",") if part.strip()]
        return text


def load_config(cls: type[T], env: Mapping[str, str] | None = None) -> T:
    """Build `cls` from the environment; raise ConfigError naming the first bad variable."""
    env = os.environ if env is None else env
    raw: dict[str, typing.Any] = {}
    for name, tp in _field_types(cls).items():
        var = env_name(name)
        if var in env:
            raw[name] = _raw_value(tp, env[var])
    try:
        config = msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc, cls)) from None
    check = getattr(config, "validate", None)
    if check is not None:
        check()
    if isinstance(config, CommonConfig):
        validate_redis_url(config.redis_url)
        if not config.node_id:
            config = msgspec.structs.replace(config, node_id=default_node_id())
    return config


def default_node_id() -> str:
    """The host name (a pod's name in Kubernetes), cleaned to the node-id alphabet."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64]
    return cleaned or "node"


def _describe(exc: msgspec.ValidationError, cls: type[msgspec.Struct]) -> str:
    message = str(exc)
    # msgspec reports the failing field as "at `$.field`".
    marker = "at `$."
    if marker in message:
        field = message.split(marker, 1)[1].split("`", 1)[0].split(".", 1)[0].split("[", 1)[0]
        reason = message.split(" - at ", 1)[0]
        return f"{env_name(field)}: {reason}"
    if "missing required field" in message.lower():
        field = message.split("`")[1] if "`" in message else "?"
        return f"{env_name(field)}: required but not set"
    return f"{cls.__name__}: {message}"


def validate_redis_url(url: str) -> None:
    """Accept redis://, rediss:// (TLS), unix://, redis+cluster:// and redis+sentinel:// URLs
    (the last two also as rediss+), with optional user:password."""
    parts = urlsplit(url)
    if parts.scheme in (*CLUSTER_SCHEMES, *SENTINEL_SCHEMES):
        try:
            parse_multi_host(url)
        except ValueError as exc:
            raise ConfigError(f"REDIS_URL: {exc}") from None
        return
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "REDIS_URL: scheme must be redis://, rediss://, unix://, redis+cluster:// or "
            f"redis+sentinel://, got {parts.scheme or 'none'!r}"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError("REDIS_URL: no host given")


def redact_url(url: str) -> str:
    """The URL without its password (user:password@ or ?password=), safe for logs and output."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        url = parts._replace(netloc=f"{parts.username or ''}:***@{netloc}").geturl()
    base, sep, query = url.partition("?")
    if not sep:
        return url
    items = [item.partition("=") for item in query.split("&")]
    return base + "?" + "&".join(f"{k}=***" if k.lower() == "password" else f"{k}{s}{v}" for k, s, v in items)


def load_or_exit(cls: type[T], env: Mapping[str, str] | None = None) -> T:
    """Load config for a service's __main__: on error print one line and exit with status 2."""
    try:
        return load_config(cls, env)
    except ConfigError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    """Stop the process with one clear line on stderr."""
    print(f"configuration error: {message}", file=sys.stderr)
    raise SystemExit(2)
