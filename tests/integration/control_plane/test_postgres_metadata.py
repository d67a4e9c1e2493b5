"""PostgreSQL as Airflow's metadata database: `airflow db migrate` and `airflow db check` against Debian's
PostgreSQL (installed by `make test-packages`), in a throw-away cluster on a free port.

The components' environment (var/run/airflow/airflow.env) is used with its own AIRFLOW_HOME and the
database URL swapped, as `.env`'s AIRFLOW_DATABASE_URL would swap it. Every Airflow command runs with
stdin from /dev/null, in its own session, with a timeout and its output in a file under the test's tmp dir.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.layout import ROOT

PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
AIRFLOW_ENV = ROOT / "var" / "run" / "airflow" / "airflow.env"
COMMAND_TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*command: str, log: Path) -> None:
    with log.open("a") as out:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            timeout=120,
            check=True,
        )


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not PG_BINS or shutil.which("runuser") is None:
        pytest.fail("PostgreSQL is not installed: run `make test-packages`", pytrace=False)
    bin_dir = PG_BINS[-1]
    # pytest's own tmp dirs are 0700 root: the postgres user could not enter them.
    base = Path(tempfile.mkdtemp(prefix="airflow-pg-"))
    base.chmod(0o755)
    data, log, port = base / "data", base / "postgres.log", _free_port()
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    log.touch()
    shutil.chown(log, "postgres", "postgres")
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", log=log)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    pg_ctl = str(bin_dir / "pg_ctl")
    _as_postgres(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start", log=log)
    try:
        _as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "airflow_meta", log=log)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow_meta"
    finally:
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop", log=log)
        shutil.rmtree(base, ignore_errors=True)


def _airflow_env(home: Path, database_url: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in AIRFLOW_ENV.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database_url)
    env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(home / "logs")
    return env


def _airflow(env: dict[str, str], log: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    with log.open("w") as out:
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "airflow"), *args],
            env=env,
            cwd=env["AIRFLOW_HOME"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


def test_airflow_metadata_migrates_into_postgresql_and_passes_db_check(
    postgres_url: str, tmp_path: Path
) -> None:
    if not AIRFLOW_ENV.exists():
        pytest.fail(f"{AIRFLOW_ENV} missing: run `make up` once", pytrace=False)
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = _airflow_env(home, postgres_url)

    migrate = _airflow(env, tmp_path / "db-migrate.log", "db", "migrate")
    assert migrate.returncode == 0, (tmp_path / "db-migrate.log").read_text()[-3000:]
    check = _airflow(env, tmp_path / "db-check.log", "db", "check")
    assert check.returncode == 0, (tmp_path / "db-check.log").read_text()[-3000:]

    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            tables = set(sqlalchemy.inspect(connection).get_table_names())
            revision = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert {"dag_run", "task_instance", "dag", "serialized_dag", "alembic_version"} <= tables
    assert revision


def test_the_runtime_passes_airflow_database_url_to_every_component() -> None:
    from stack.control_plane import environment
    from stack.settings import load_settings

    settings = load_settings().model_copy(
        update={"airflow_database_url": __import__("pydantic").SecretStr("postgresql+psycopg2://u@h:1/d")}
    )
    env = environment(settings, Path(os.devnull).parent)

    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://u@h:1/d"
