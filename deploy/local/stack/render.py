"""Renders the checked-in configuration templates into var/run/, filling ${NAME} from the settings.

Templates are the engine config files under deploy/local/ and monitoring/; rendering is pure text
substitution, so a rendered file is exactly its template with values in place. An engine that runs as
several nodes (`stack.topology`) gets one rendered config folder and one program file per node, from the
same templates with that node's values (`node_values`).
"""

from __future__ import annotations

import configparser
import hashlib
import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path
from string import Template

from services import layout

from . import alerting, security, topology
from .settings import ROOT, RuntimeSettings
from .topology import Node

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


def producer_static_configs(settings: RuntimeSettings) -> list[dict[str, object]]:
    """Prometheus' producer job: one target per expected replica, labelled with its program (`replica`,
    also its log's name), so ProducerDown says which replica is down."""
    replicas = topology.producer_replicas(settings)
    return [
        {"targets": [target], "labels": {"replica": node.program}}
        for node, target in zip(replicas, settings.producer_metrics_targets, strict=True)
    ]


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
        LOG_DIR=str(layout.log_dir(var)),
        # The alert rules' runbook links (Prometheus' external label runbook_base_url).
        RUNBOOK_BASE=alerting.runbook_base(settings),
        # YAML flow lists: one scrape target per expected producer replica, broker and Cassandra node.
        PRODUCER_STATIC_CONFIGS=json.dumps(producer_static_configs(settings)),
        KAFKA_JMX_TARGETS=json.dumps(list(settings.kafka_jmx_targets)),
        CASSANDRA_JMX_TARGETS=json.dumps(list(settings.cassandra_jmx_targets)),
        KAFKA_QUORUM_VOTERS=topology.kafka_quorum_voters(settings),
        KAFKA_MIN_INSYNC_REPLICAS=str(max(1, int(settings.kafka_replication_factor or 1) - 1)),
        KAFKA_CLUSTER=_kafka_cluster_lines(settings),
        CASSANDRA_SEEDS=topology.cassandra_seeds(settings),
        CASSANDRA_SNITCH="GossipingPropertyFileSnitch" if settings.cluster else "SimpleSnitch",
        SPARK_TOTAL_EXECUTOR_CORES=str(settings.spark_total_executor_cores),
        PYTHON=sys.executable,
        VENV_BIN=str(Path(sys.executable).parent),
        SPARK_HOME=spark_home(),
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
    # Listeners, TLS and authentication of Kafka and Cassandra, as ENABLE_SSL says (node 1's listeners).
    values.update(security.template_values(settings, security.passwords(settings)))
    return values


def spark_home() -> str:
    """pyspark's package folder, Spark's home for its daemons: set, because spark-class otherwise asks the
    first `python3` on PATH to find it, which under supervisord is not the venv's."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise MissingArtifactError("pyspark is not installed in the venv; run `make venv`")
    return str(Path(spec.origin).parent)


def _kafka_cluster_lines(settings: RuntimeSettings) -> str:
    if not settings.cluster:
        return "# TOPOLOGY=single: one broker, Kafka's defaults for the rest."
    return "\n".join(
        [
            "# TOPOLOGY=cluster: a topic created without settings is on every broker with two in sync,",
            "# as the pipeline's are (Airflow's bootstrap sets both on its topics explicitly).",
            f"default.replication.factor={settings.kafka_replication_factor}",
            f"min.insync.replicas={max(1, int(settings.kafka_replication_factor or 1) - 1)}",
            "# The log cleaner's dedupe buffer is 128 MiB by default, allocated whole at start: half",
            "# of a 256m heap. 16 MiB cleans this pipeline's compacted offsets topic.",
            "log.cleaner.dedupe.buffer.size=16777216",
        ]
    )


def node_values(settings: RuntimeSettings, node: Node, passwords: dict[str, str] | None) -> dict[str, str]:
    """The ${NODE_*} values (and the engine's own per-node ones) of one node's templates."""
    values = {
        "NODE_PROGRAM": node.program,
        "NODE_HOST": node.host,
        "NODE_RUN_DIR": str(node.run_dir),
        "NODE_DATA_DIR": str(node.data_dir or ""),
    }
    if node.engine == topology.KAFKA:
        values |= {"KAFKA_NODE_ID": str(node.number), "KAFKA_LOG_DIR": str(node.data_dir)}
        values |= security.template_values(settings, passwords, kafka_host=node.host)
    elif node.engine == topology.CASSANDRA:
        values |= {
            "CASSANDRA_NODE_HOST": node.host,
            "CASSANDRA_DATA_DIR": str(node.data_dir),
            "CASSANDRA_NODE_JMX_PORT": str(settings.cassandra_node_jmx_port(node.number)),
            # GossipingPropertyFileSnitch reads the data center and rack from this file.
            "CASSANDRA_NODE_OPTS": (
                f"-Dcassandra-rackdc.properties=file://{node.run_dir / 'cassandra-rackdc.properties'}"
                if settings.cluster
                else ""
            ),
        }
    elif node.engine == topology.SPARK_WORKER:
        values |= {
            "SPARK_WORKER_NODE_PORT": str(settings.spark_worker_port + node.index),
            "SPARK_WORKER_NODE_WEBUI_PORT": str(settings.spark_worker_webui_port + node.index),
        }
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


def _program(source: Path, values: dict[str, str], run: Path, program: str) -> str:
    parser = configparser.RawConfigParser()
    parser.read_string(_substitute(source, values), source=str(source))
    (section,) = parser.sections()  # one program per template; a node's takes the node's name
    if section != f"program:{program}":
        parser.add_section(f"program:{program}")
        for key, value in parser.items(section):
            parser.set(f"program:{program}", key, value)
        parser.remove_section(section)
        section = f"program:{program}"
    for key, default in PROGRAM_DEFAULTS.items():
        if not parser.has_option(section, key):
            parser.set(section, key, Template(default).substitute(values))
    # The digest of the program's rendered config files (its node's folder, else its engine's): when they
    # change, the program section changes, so `supervisorctl update` restarts exactly what changed.
    folder = run / program if (run / program).is_dir() else run / program.split("-")[0]
    environment = parser.get(section, "environment", fallback="")
    digest = f"STACK_CONFIG_DIGEST={_config_digest(folder)}"
    parser.set(section, "environment", f"{environment},{digest}" if environment else digest)
    out = io.StringIO()
    parser.write(out)
    return f"; rendered from {source.relative_to(ROOT)} by deploy/local/stack; edit that file instead\n" + (
        out.getvalue()
    )


def programs(settings: RuntimeSettings) -> dict[str, tuple[Path, Node | None]]:
    """Every program to run, by name: its template, and its node for an engine that runs as nodes."""
    found: dict[str, tuple[Path, Node | None]] = {}
    for source in sorted((DEPLOY / "programs").glob("*.conf")):
        if source.stem in (
            topology.KAFKA,
            topology.CASSANDRA,
            topology.SPARK_MASTER,
            topology.SPARK_WORKER,
            topology.PRODUCER,
        ):
            found.update({node.program: (source, node) for node in topology.nodes(settings, source.stem)})
        else:
            found[source.stem] = (source, None)
    return found


def render_all(settings: RuntimeSettings) -> Path:
    """Writes every rendered file under var/run/ and returns the supervisord config's path."""
    values = template_values(settings)
    passwords = security.passwords(settings)
    run = settings.var_dir / "run"
    for sub in ("programs", "prometheus", "alertmanager", "airflow", "producer", "simulator", "statsd"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("log/airflow", "data/prometheus", "data/alertmanager", "airflow"):
        (settings.var_dir / sub).mkdir(parents=True, exist_ok=True)

    files = {
        PROMETHEUS_CONFIG: run / "prometheus" / "prometheus.yml",
        DEPLOY / "supervisord.conf": run / "supervisord.conf",
        DEPLOY / "airflow" / "airflow.cfg": run / "airflow" / "airflow.cfg",
    }
    for source, target in files.items():
        _write_if_changed(target, _substitute(source, values))
    # Each broker's and Cassandra node's own folder: its config, and what it reads beside it. Living under
    # run/<node>/, a change restarts that node only.
    node_files = {
        topology.KAFKA: {
            "server.properties": DEPLOY / "kafka" / "server.properties",
            "jmx-exporter.yml": MONITORING / "jmx" / "kafka.yml",
        },
        topology.CASSANDRA: {
            "cassandra.yaml": DEPLOY / "cassandra" / "cassandra.yaml",
            "jmx-exporter.yml": MONITORING / "jmx" / "cassandra.yml",
            **(
                {"cassandra-rackdc.properties": DEPLOY / "cassandra" / "cassandra-rackdc.properties"}
                if settings.cluster
                else {}
            ),
        },
    }
    for engine, sources in node_files.items():
        for node in topology.nodes(settings, engine):
            node.run_dir.mkdir(parents=True, exist_ok=True)
            assert node.data_dir is not None
            node.data_dir.mkdir(parents=True, exist_ok=True)
            node_all = values | node_values(settings, node, passwords)
            for name, source in sources.items():
                text = source.read_text() if source.suffix == ".yml" else _substitute(source, node_all)
                _write_if_changed(node.run_dir / name, text)
    if settings.cluster:
        (run / "spark" / "conf").mkdir(parents=True, exist_ok=True)
        _write_if_changed(
            run / "spark" / "conf" / "spark-defaults.conf",
            _substitute(DEPLOY / "spark" / "spark-defaults.conf", values),
        )
        for worker in topology.spark_workers(settings):
            assert worker.data_dir is not None
            worker.data_dir.mkdir(parents=True, exist_ok=True)
    # Copied as they are (no ${...} in them); living under run/<engine>/, a change restarts the engine.
    copies = {
        MONITORING / "statsd" / "mapping.yml": run / "statsd" / "mapping.yml",
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

    wanted = programs(settings)
    for stale in (run / "programs").glob("*.conf"):
        if stale.stem not in wanted:
            stale.unlink()
    for program, (source, program_node) in wanted.items():
        program_values = values
        if program_node is not None:
            program_values = values | node_values(settings, program_node, passwords)
        _write_if_changed(
            run / "programs" / f"{program}.conf", _program(source, program_values, run, program)
        )
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
