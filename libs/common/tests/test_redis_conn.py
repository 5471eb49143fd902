"""REDIS_URL with a password and with TLS (rediss://), against real redis-server processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from devstack.ports import free_port
from devstack.redis_server import start_redis
from notify_common.config import redact_url
from notify_common.redis_conn import closed_under_us, connect
from redis.exceptions import ConnectionError as RedisConnectionError


async def test_password_in_the_url_authenticates() -> None:
    server = start_redis(password="s3cret-pass")
    try:
        client = connect(server.url)
        assert await client.ping()
        await client.aclose()
        assert "s3cret-pass" not in redact_url(server.url)
    finally:
        server.stop()


def _write_cert(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_redis() -> Iterator[tuple[int, Path]]:
    directory = Path(tempfile.mkdtemp(prefix="nf-tls-"))
    cert, key = _write_cert(directory)
    port = free_port()
    args = [
        "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(directory),
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port, cert
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


async def test_rediss_url_speaks_tls_and_verifies_the_server(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    client = connect(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}&ssl_cert_reqs=required")
    for _ in range(100):  # the server needs a moment to listen
        try:
            assert await client.ping()
            break
        except RedisConnectionError:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("TLS Redis never answered")
    await client.aclose()


async def test_a_burst_larger_than_the_pool_waits_instead_of_failing(redis_url: str) -> None:
    client = connect(redis_url, max_connections=4)
    try:
        results = await asyncio.gather(*[client.blpop(["nf:never"], timeout=0.2) for _ in range(12)])
        assert results == [None] * 12
    finally:
        await client.aclose()


async def test_a_write_on_a_connection_closed_under_it_counts_as_redis_failing(redis_url: str) -> None:
    client = connect(redis_url)
    conn = client.connection_pool.make_connection()
    await conn.connect()
    await conn.disconnect()  # what another task did while this one's write was on its way
    with pytest.raises(AttributeError) as raised:
        await conn._send_packed_command([conn.pack_command("PING")[0]])  # redis-py 8.1's own write
    await client.aclose()
    assert closed_under_us(raised.value)


def test_our_own_attribute_errors_are_not_taken_for_redis() -> None:
    try:
        None.writelines  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert not closed_under_us(exc)
    assert not closed_under_us(RedisConnectionError("down"))
