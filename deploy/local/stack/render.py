"""Renders the checked-in configuration templates into var/run/, filling ${NAME} from the settings.

Templates are the engine config files under deploy/local/ and monitoring/; rendering is pure text
substitution, so a rendered file is exactly its template with values in place.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path
from string import Template

from . import alerting, security
from .settings import ROOT, RuntimeSettings

DEPLOY = ROOT / "deploy" / "local"
MONITORING = ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"

# Keys every supervised program gets unless its own file sets them.
PROGRAM_DEFAULTS = {
    "directory": "${ROOT}",
    "autostart": "true",
    "autorestart": "true",
    "startsecs": "5",
    "startretries": "5",
    "stopasgroup": "true",
    "killasgroup": "true",
    "redirect_stderr": "true",
    "stdout_logfile": "${LOG_DIR}/%(program_name)s.log",
    "stdout_logfile_maxbytes": "50MB",
    "stdout_logfile_backups": "3",
}


class MissingArtifactError(Exception):
    """A jar or binary the runtime needs is not installed; the message says which and how to get it."""


def _one(pattern: str, folder: Path, how: str) -> str:
    matches = sorted(folder.glob(pattern))
    if not matches:
        raise MissingArtifactError(f"{folder / pattern} not found; {how}")
    return str(matches[-1])


def _binary(name: str, fallback: Path | None, how: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if fallback is not None and fallback.exists():
        return str(fallback)
    raise MissingArtifactError(f"{name} not found on PATH; {how}")


def jvm_options(path: Path) -> str:
    lines = (line.strip() for line in path.read_text().splitlines())
    return " ".join(line for line in lines if line and not line.startswith("#"))


def template_values(settings: RuntimeSettings) -> dict[str, str]:
    """Every ${NAME} a template may use."""
    var = settings.var_dir
    lib = var / "lib"
    values = {
        name.upper(): str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)
        for name, value in settings.model_dump().items()
    }
    values.update(
        ROOT=str(ROOT),
        VAR_DIR=str(var),
        RUN_DIR=str(var / "run"),
        LOG_DIR=str(var / "log"),
        # The alert rules' runbook links (Prometheus' external label runbook_base_url).
        RUNBOOK_BASE=alerting.runbook_base(settings),
        # A YAML flow list: one scrape target per expected producer replica.
        PRODUCER_METRICS_TARGETS=json.dumps(list(settings.producer_metrics_targets)),
        PYTHON=sys.executable,
        VENV_BIN=str(Path(sys.executable).parent),
        JAVA=_binary("java", None, "install a Java 17 JDK"),
        JMX_AGENT_JAR=_one("jmx_prometheus_javaagent-*.jar", lib / "jmx-exporter", "run `make jars`"),
        JAMM_JAR=_one("jamm-*.jar", lib / "cassandra", "run `make jars`"),
        CASSANDRA_JVM_OPTS=jvm_options(DEPLOY / "cassandra" / "jvm17-server.options"),
        PROMETHEUS_BIN=_binary("prometheus", None, "run `make install` (Debian package prometheus)"),
        ALERTMANAGER_BIN=_binary(
            "prometheus-alertmanager", None, "run `make install` (Debian package prometheus-alertmanager)"
        ),
        STATSD_EXPORTER_BIN=_binary(
            "statsd_exporter", var / "bin" / "statsd_exporter", "run `make install` (go install)"
        ),
    )
    # Listeners, TLS and authentication of Kafka and Cassandra, as ENABLE_SSL says.
    values.update(security.template_values(settings, security.passwords(settings)))
    return values


def _substitute(source: Path, values: dict[str, str]) -> str:
    try:
        return Template(source.read_text()).substitute(values)
    except KeyError as exc:
        raise KeyError(f"{source}: unknown template variable {exc}") from None


def _config_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _program(source: Path, values: dict[str, str], run: Path) -> str:
    parser = configparser.RawConfigParser()
    parser.read_string(_substitute(source, values), source=str(source))
    for section in parser.sections():
        for key, default in PROGRAM_DEFAULTS.items():
            if not parser.has_option(section, key):
                parser.set(section, key, Template(default).substitute(values))
        # The digest of the engine's rendered config files: when they change, the program section changes,
        # so `supervisorctl update` restarts exactly the engines whose configuration changed.
        engine = section.removeprefix("program:").split("-")[0]  # airflow-scheduler -> run/airflow/
        environment = parser.get(section, "environment", fallback="")
        digest = f"STACK_CONFIG_DIGEST={_config_digest(run / engine)}"
        parser.set(section, "environment", f"{environment},{digest}" if environment else digest)
    out = io.StringIO()
    parser.write(out)
    return f"; rendered from {source.relative_to(ROOT)} by deploy/local/stack; edit that file instead\n" + (
        out.getvalue()
    )


def render_all(settings: RuntimeSettings) -> Path:
    """Writes every rendered file under var/run/ and returns the supervisord config's path."""
    values = template_values(settings)
    run = settings.var_dir / "run"
    for sub in (
        "programs",
        "kafka",
        "cassandra",
        "prometheus",
        "alertmanager",
        "airflow",
        "producer",
        "simulator",
        "statsd",
    ):
        (run / sub).mkdir(parents=True, exist_ok=True)
    for sub in (
        "log/airflow",
        "data/kafka",
        "data/cassandra",
        "data/prometheus",
        "data/alertmanager",
        "airflow",
    ):
        (settings.var_dir / sub).mkdir(parents=True, exist_ok=True)

    files = {
        DEPLOY / "kafka" / "server.properties": run / "kafka" / "server.properties",
        DEPLOY / "cassandra" / "cassandra.yaml": run / "cassandra" / "cassandra.yaml",
        PROMETHEUS_CONFIG: run / "prometheus" / "prometheus.yml",
        DEPLOY / "supervisord.conf": run / "supervisord.conf",
        DEPLOY / "airflow" / "airflow.cfg": run / "airflow" / "airflow.cfg",
    }
    for source, target in files.items():
        _write_if_changed(target, _substitute(source, values))
    # Copied as they are (no ${...} in them); living under run/<engine>/, a change restarts the engine.
    copies = {
        MONITORING / "statsd" / "mapping.yml": run / "statsd" / "mapping.yml",
        MONITORING / "jmx" / "kafka.yml": run / "kafka" / "jmx-exporter.yml",
        MONITORING / "jmx" / "cassandra.yml": run / "cassandra" / "jmx-exporter.yml",
        alerting.SLACK_TEMPLATE: run / "alertmanager" / alerting.SLACK_TEMPLATE.name,
    }
    rules = run / "prometheus" / "rules"
    rules.mkdir(exist_ok=True)
    for stale in set(rules.glob("*.yml")) - {
        rules / p.name for p in (MONITORING / "prometheus" / "rules").glob("*.yml")
    }:
        stale.unlink()
    copies.update({p: rules / p.name for p in (MONITORING / "prometheus" / "rules").glob("*.yml")})
    for source, target in copies.items():
        _write_if_changed(target, source.read_text())
    _write_if_changed(run / "alertmanager" / "alertmanager.yml", alerting.render_local(settings))

    wanted = {f"{source.stem}.conf" for source in (DEPLOY / "programs").glob("*.conf")}
    for stale in (run / "programs").glob("*.conf"):
        if stale.name not in wanted:
            stale.unlink()
    for source in sorted((DEPLOY / "programs").glob("*.conf")):
        _write_if_changed(run / "programs" / source.name, _program(source, values, run))
    return run / "supervisord.conf"


def prometheus_config(settings: RuntimeSettings) -> str:
    """Prometheus' config for these settings (the tests render one for a Prometheus of their own)."""
    return _substitute(PROMETHEUS_CONFIG, template_values(settings))


def _write_if_changed(target: Path, text: str) -> None:
    # Unchanged files keep their mtime, so `supervisorctl update` restarts only what really changed.
    # Owner-only: with ENABLE_SSL, Kafka's server.properties holds the broker's SCRAM password.
    if not target.exists() or target.read_text() != text:
        target.touch(mode=0o600)
        target.write_text(text)
    target.chmod(0o600)
