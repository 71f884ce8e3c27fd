"""Real server processes, shared per module, and the official clients pointed at them."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import httpx
import pytest
import replicate

from tests.support.server import TOKEN, ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # The module's tests share one token and make thousands of requests between them:
    # rate limits, tested in test_rate_limits.py, would throttle them at random.
    process = ServerProcess(tmp_path_factory.mktemp("server"),
                            env={"REPLICAST_RATE_LIMIT_CREATES": "0",
                                 "REPLICAST_RATE_LIMIT_REQUESTS": "0"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def transport():
    """Connections for official clients, closed when the module's tests are done."""
    with httpx.HTTPTransport() as transport:
        yield transport


@pytest.fixture(scope="module")
def client(server, transport):
    return replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)


@pytest.fixture(scope="module")
def http(server):
    with server.client() as http:
        yield http


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
