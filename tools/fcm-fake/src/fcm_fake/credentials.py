"""A generated service-account file whose token_uri points at the fake."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def write_service_account(path: str | Path, base_url: str, project_id: str = "fake-project") -> Path:
    """Write a service-account JSON with a fresh RSA key; the unmodified SDK can sign with it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "fake-key-1",
        "private_key": pem,
        "client_email": f"fake@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "auth_uri": f"{base_url}/auth",
        "token_uri": f"{base_url}/token",
        "auth_provider_x509_cert_url": f"{base_url}/certs",
        "client_x509_cert_url": f"{base_url}/certs/fake",
    }
    target = Path(path)
    target.write_text(json.dumps(account))
    target.chmod(0o600)
    return target
