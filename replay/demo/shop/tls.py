"""A self-signed certificate made at start-up, so the shop can serve HTTPS with nothing to set up.

``--tls`` serves the shop over HTTPS with a fresh key and certificate for ``localhost`` and
``127.0.0.1`` (valid for a day, kept in a temporary directory that lives as long as the process).
Clients either skip verification (a browser's ``ignore_https_errors``, the recorder's ``--insecure``)
or trust the certificate file that ``--tls-cert-out`` copies it to.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["self_signed_context"]


def _write_self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "venom-replay demo shop")])
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        if ipaddress.ip_address(host) != ipaddress.ip_address("127.0.0.1"):
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        if host != "localhost":
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "shop-cert.pem", folder / "shop-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def self_signed_context(host: str, *, cert_out: str | None = None) -> ssl.SSLContext:
    """A server TLS context with a certificate made now for ``host``; ``cert_out``: where to copy it."""
    with tempfile.TemporaryDirectory(prefix="venom-shop-tls-") as folder:
        cert_path, key_path = _write_self_signed(Path(folder), host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)  # loaded into memory: the files may go
        if cert_out:
            Path(cert_out).write_bytes(cert_path.read_bytes())
    return context
