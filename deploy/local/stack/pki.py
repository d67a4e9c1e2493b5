"""The local runtime's certificates: a CA of its own and one server certificate per engine, in PEM files.

Generated once by `make up` with ENABLE_SSL=true when the TLS folder does not exist yet (or supplied by the
user in TLS_DIR); afterwards only checked: a missing, unreadable or expiring file stops start-up with one
line naming it, before any service starts. Private keys are unencrypted PKCS#8 in 0600 files (Java 17 cannot
read OpenSSL 3's default encrypted keys; the folder is 0700 instead). Built with the `cryptography` library.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT: Final = "ca.crt"
CA_KEY: Final = "ca.key"
CA_DAYS: Final = 3650
SERVER_DAYS: Final = 825
"""The longest validity browsers and most TLS clients accept for a server certificate."""
RENEW_BEFORE: Final = dt.timedelta(days=14)
"""A certificate expiring sooner than this stops start-up: renew it (docs/deployment.md, "Rotation")."""
SERVER_ADDRESSES: Final = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "localhost")
"""Every address an engine may listen on here (cluster mode puts nodes on 127.0.0.2 and .3)."""


class PkiError(Exception):
    """A certificate or key is missing, unreadable, too open or expiring; the message names the file."""


@dataclass(frozen=True)
class ServerIdentity:
    """One engine's certificate: its file stem and its subject's common name (Kafka's controller listener
    authenticates the broker by this name: `User:CN=<common_name>`)."""

    stem: str
    common_name: str

    def keystore(self, folder: Path) -> Path:
        """Key, certificate and CA chain in one PEM file: the form Kafka and Cassandra both read."""
        return folder / f"{self.stem}-keystore.pem"

    def certificate(self, folder: Path) -> Path:
        return folder / f"{self.stem}.crt"


KAFKA: Final = ServerIdentity("kafka", "kafka-broker")
CASSANDRA: Final = ServerIdentity("cassandra", "cassandra-node")
SERVERS: Final = (KAFKA, CASSANDRA)


def ensure(
    folder: Path,
    servers: Sequence[ServerIdentity] = SERVERS,
    now: dt.datetime | None = None,
    addresses: Sequence[str] = SERVER_ADDRESSES,
) -> bool:
    """Creates the CA and the servers' certificates (valid for `addresses`: IPs or host names) when `folder`
    does not exist; then checks them. Returns True when it created them. A folder that exists is never
    changed (it may be the user's)."""
    created = False
    if not folder.exists():
        _create(folder, servers, now or dt.datetime.now(dt.UTC), addresses)
        created = True
    check(folder, servers, now)
    return created


def check(folder: Path, servers: Sequence[ServerIdentity] = SERVERS, now: dt.datetime | None = None) -> None:
    """Raises PkiError naming the first file that is missing, unreadable, too open or expiring."""
    moment = now or dt.datetime.now(dt.UTC)
    ca = _certificate(folder / CA_CERT, moment)
    for server in servers:
        certificate = _certificate(server.certificate(folder), moment)
        if certificate.issuer != ca.subject:
            raise PkiError(f"{server.certificate(folder)}: not issued by the CA in {folder / CA_CERT}")
        keystore = server.keystore(folder)
        _private(keystore)
        try:
            key = serialization.load_pem_private_key(keystore.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as error:
            raise PkiError(f"{keystore}: no readable unencrypted private key ({error})") from None
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise PkiError(f"{keystore}: its key does not belong to {server.certificate(folder)}")


def _certificate(path: Path, now: dt.datetime) -> x509.Certificate:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise PkiError(
            f"{path}: missing (delete {path.parent} to generate a new set, or restore it)"
        ) from None
    except (OSError, ValueError) as error:
        raise PkiError(f"{path}: not a readable PEM certificate ({error})") from None
    expires = certificate.not_valid_after_utc
    if expires <= now:
        raise PkiError(f"{path}: expired on {expires:%Y-%m-%d}")
    if expires - now < RENEW_BEFORE:
        raise PkiError(f"{path}: expires on {expires:%Y-%m-%d}, within {RENEW_BEFORE.days} days: renew it")
    return certificate


def _private(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PkiError(
            f"{path}: missing (delete {path.parent} to generate a new set, or restore it)"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PkiError(
            f"{path}: holds a private key but is readable by others (mode {mode & 0o777:o}); chmod 600"
        )


def _create(
    folder: Path, servers: Iterable[ServerIdentity], now: dt.datetime, addresses: Sequence[str]
) -> None:
    partial = folder.with_name(f".{folder.name}.partial")
    partial.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "finnhub-pipeline local CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now, CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(partial / CA_KEY, _pem_key(ca_key))
    _write(partial / CA_CERT, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)
    for server in servers:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server.common_name)])
        certificate = (
            _builder(name, ca.subject, key.public_key(), now, SERVER_DAYS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            # serverAuth, and clientAuth: Kafka's broker also presents it to its controller (mutual TLS).
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName(_alternative_names(addresses)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        _write(server.certificate(partial), pem, mode=0o644)
        _write(server.keystore(partial), _pem_key(key) + pem + ca.public_bytes(serialization.Encoding.PEM))
    partial.rename(folder)  # all files or none: a crash never leaves a half set that looks complete


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPublicKey, now: dt.datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _alternative_names(addresses: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for address in addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    return names


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    path.chmod(mode)
