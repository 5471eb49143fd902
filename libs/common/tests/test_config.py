from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest
from notify_common.config import CommonConfig, ConfigError, load_config, redact_url
from notify_common.redis_conn import parse_multi_host


class GatewayLike(CommonConfig, frozen=True, kw_only=True):
    port: int = 8080
    jwt_secret: str
    origins: list[str] = []


def test_defaults_fill_everything_but_required_fields() -> None:
    config = load_config(GatewayLike, {"JWT_SECRET": "s"})
    assert config.redis_url.startswith("redis://")
    assert config.port == 8080
    assert config.node_id  # defaults to the host name


def test_numbers_and_lists_are_parsed_from_text() -> None:
    config = load_config(
        GatewayLike, {"JWT_SECRET": "s", "PORT": "9000", "ORIGINS": "https://a.example,https://b.example"}
    )
    assert config.port == 9000
    assert config.origins == ["https://a.example", "https://b.example"]


def test_missing_required_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_config(GatewayLike, {})


def test_wrong_type_is_named_with_the_variable() -> None:
    with pytest.raises(ConfigError, match="^PORT: "):
        load_config(GatewayLike, {"JWT_SECRET": "s", "PORT": "eighty"})


def test_out_of_range_value_is_named() -> None:
    with pytest.raises(ConfigError, match="OPS_PORT"):
        load_config(GatewayLike, {"JWT_SECRET": "s", "OPS_PORT": "70000"})


def test_redis_url_accepts_tls_and_password_but_not_other_schemes() -> None:
    config = load_config(GatewayLike, {"JWT_SECRET": "s", "REDIS_URL": "rediss://:pw@cache.example:6380/0"})
    assert config.redis_url.startswith("rediss://")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_config(GatewayLike, {"JWT_SECRET": "s", "REDIS_URL": "http://cache.example"})


def test_redis_url_names_a_cluster_or_a_sentinel_group_by_its_scheme() -> None:
    for url in (
        "redis+cluster://10.0.0.1:6379,10.0.0.2:6379",
        "rediss+cluster://u:pw@redis-0.redis:6379",
        "redis+sentinel://s1:26379,s2:26379,s3:26379/notify?db=2",
    ):
        assert load_config(GatewayLike, {"JWT_SECRET": "s", "REDIS_URL": url}).redis_url == url
    spec = parse_multi_host("redis+sentinel://:pw@s1:26379,[::1]:26380/notify?db=2")
    assert (spec.hosts, spec.password, spec.service, spec.options) == (
        [("s1", 26379), ("::1", 26380)],
        "pw",
        "notify",
        {"db": "2"},
    )
    for bad, why in (
        ("redis+sentinel://s1:26379", "names its master"),
        ("redis+cluster://10.0.0.1", "host:port"),
        ("redis+cluster://10.0.0.1:6379/3", "database 0"),
    ):
        with pytest.raises(ConfigError, match=f"REDIS_URL: .*{why}"):
            load_config(GatewayLike, {"JWT_SECRET": "s", "REDIS_URL": bad})
    assert "pw" not in redact_url("redis+cluster://u:pw@a:1,b:2")


def test_redacted_url_hides_the_password() -> None:
    assert redact_url("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"
    assert "secret" not in redact_url("rediss://:secret@host/0")


def test_redacted_url_hides_a_password_in_the_query() -> None:
    assert (
        redact_url("unix:///run/redis.sock?db=0&password=secret")
        == "unix:///run/redis.sock?db=0&password=***"
    )
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


def test_config_is_frozen() -> None:
    config = load_config(GatewayLike, {"JWT_SECRET": "s"})
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]
    assert msgspec.structs.asdict(config)["port"] == 8080


def test_bad_config_stops_a_service_with_one_line() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from notify_common.config import load_or_exit, CommonConfig; load_or_exit(CommonConfig)",
        ],
        env={"OPS_PORT": "nope", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("configuration error: OPS_PORT")
