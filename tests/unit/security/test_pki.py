"""The runtime's CA and server certificates: generated once, then checked; a bad file stops start-up."""

from __future__ import annotations

import datetime as dt
import ssl
import subprocess
from pathlib import Path

import pytest

from stack import pki

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("secrets") / "tls"
    assert pki.ensure(folder, now=NOW) is True
    return folder


def test_keys_are_private_and_the_folder_is_closed(tls: Path) -> None:
    assert tls.stat().st_mode & 0o777 == 0o700
    for name in (pki.CA_KEY, "kafka-keystore.pem", "cassandra-keystore.pem"):
        assert (tls / name).stat().st_mode & 0o777 == 0o600, name


def test_server_certificates_verify_against_the_ca_for_every_local_address(tls: Path) -> None:
    for server in pki.SERVERS:
        result = subprocess.run(
            ["openssl", "verify", "-CAfile", str(tls / pki.CA_CERT), "-verify_ip", "127.0.0.2",
             "-attime", str(int(NOW.timestamp()) + 60), str(server.certificate(tls))],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


def test_python_clients_accept_the_ca_file(tls: Path) -> None:
    context = ssl.create_default_context(cafile=str(tls / pki.CA_CERT))
    assert context.cert_store_stats()["x509_ca"] == 1


def test_an_existing_folder_is_never_regenerated(tls: Path) -> None:
    before = (tls / pki.CA_CERT).read_bytes()
    assert pki.ensure(tls, now=NOW) is False
    assert (tls / pki.CA_CERT).read_bytes() == before


def test_a_missing_certificate_stops_naming_the_file(tls: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tls"
    subprocess.run(["cp", "-a", str(tls), str(copy)], check=True)
    (copy / "kafka.crt").unlink()
    with pytest.raises(pki.PkiError, match=r"kafka\.crt: missing"):
        pki.check(copy, now=NOW)


def test_an_expired_or_expiring_certificate_stops_naming_the_file(tls: Path) -> None:
    with pytest.raises(pki.PkiError, match=r"ca\.crt: expired"):
        pki.check(tls, now=NOW + dt.timedelta(days=pki.CA_DAYS + 1))
    with pytest.raises(pki.PkiError, match=r"kafka\.crt: expires on .* renew it"):
        pki.check(tls, now=NOW + dt.timedelta(days=pki.SERVER_DAYS - 3))


def test_a_key_readable_by_others_or_unreadable_stops_naming_the_file(tls: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tls"
    subprocess.run(["cp", "-a", str(tls), str(copy)], check=True)
    (copy / "cassandra-keystore.pem").chmod(0o644)
    with pytest.raises(pki.PkiError, match=r"cassandra-keystore\.pem: .*readable by others"):
        pki.check(copy, now=NOW)
    (copy / "cassandra-keystore.pem").chmod(0o600)
    (copy / "cassandra-keystore.pem").write_text("not a key")
    with pytest.raises(pki.PkiError, match=r"cassandra-keystore\.pem: no readable unencrypted private key"):
        pki.check(copy, now=NOW)
