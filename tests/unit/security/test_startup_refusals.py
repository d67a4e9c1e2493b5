"""Bad security input stops `stack up` with one line naming the file or setting, before any service starts
and without touching what is stored (the runtime's state folder gets nothing but the refusal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.layout import ROOT
from stack import credentials, pki


def stack_up(var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("ENABLE_SSL", "TLS_DIR", "VAR_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "stack", "up"],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(var_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused_before_anything_started(
    result: subprocess.CompletedProcess[str], var_dir: Path, *words: str
) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("stack: invalid configuration: ")
    assert all(word in result.stderr for word in words), result.stderr
    assert not (var_dir / "run").exists(), "something was rendered or started"


def test_enable_ssl_other_than_true_or_false_is_refused(tmp_path: Path) -> None:
    result = stack_up(tmp_path / "var", ENABLE_SSL="yes")
    assert_refused_before_anything_started(result, tmp_path / "var", "ENABLE_SSL", "true or false")


@pytest.fixture(scope="module")
def good_tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki") / "tls"
    pki.ensure(folder)
    return folder


def test_a_missing_certificate_is_refused_naming_it(tmp_path: Path, good_tls: Path) -> None:
    tls = tmp_path / "tls"
    subprocess.run(["cp", "-a", str(good_tls), str(tls)], check=True)
    (tls / "cassandra.crt").unlink()
    result = stack_up(tmp_path / "var", ENABLE_SSL="true", TLS_DIR=str(tls))
    assert_refused_before_anything_started(result, tmp_path / "var", "cassandra.crt", "missing")


def test_an_unreadable_key_is_refused_naming_it(tmp_path: Path, good_tls: Path) -> None:
    tls = tmp_path / "tls"
    subprocess.run(["cp", "-a", str(good_tls), str(tls)], check=True)
    (tls / "kafka-keystore.pem").write_text("garbage")
    result = stack_up(tmp_path / "var", ENABLE_SSL="true", TLS_DIR=str(tls))
    assert_refused_before_anything_started(result, tmp_path / "var", "kafka-keystore.pem")


def test_a_password_file_readable_by_others_is_refused_naming_it(tmp_path: Path, good_tls: Path) -> None:
    var = tmp_path / "var"
    passwords = var / "secrets" / "passwords.json"
    credentials.passwords(passwords, environ={})
    passwords.chmod(0o644)
    result = stack_up(var, ENABLE_SSL="true", TLS_DIR=str(good_tls))
    assert_refused_before_anything_started(result, var, "passwords.json", "readable by others")
