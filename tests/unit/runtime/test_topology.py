"""TOPOLOGY=single|cluster: what each runs (programs, addresses, ports, roles), the one bootstrap list and
contact points every client gets, and the bad input that stops start-up with one line naming the setting."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values
from pydantic import SecretStr

from services.configuration import ConfigError
from services.layout import ROOT
from stack import control_plane, engines, pipeline, render, tools, topology
from stack.settings import RuntimeSettings, load_settings, record_running_shape, running_topology_file


def cluster(**values: object) -> RuntimeSettings:
    return RuntimeSettings(topology="cluster", **values)  # type: ignore[arg-type]


def program(run: Path, name: str) -> configparser.SectionProxy:
    parser = configparser.RawConfigParser()
    parser.read(run / "programs" / f"{name}.conf")
    return parser[f"program:{name}"]


def properties(path: Path) -> dict[str, str]:
    lines = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    return {key: value for key, value in lines}


# --- what each topology runs ---------------------------------------------------------------------------
def test_single_is_the_default_and_runs_one_program_per_engine_under_its_usual_name() -> None:
    settings = load_settings(follow_running=False)  # what .env says, whatever the checkout runs now

    assert settings.topology == "single"
    assert (settings.kafka_nodes, settings.cassandra_nodes, settings.spark_workers) == (1, 1, 0)
    assert (settings.kafka_replication_factor, settings.cassandra_replication_factor) == (1, 1)
    assert (settings.kafka_heap, settings.cassandra_heap) == ("512m", "1G")
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.cassandra_connection().hosts == ("127.0.0.1",)
    assert settings.state_dir == settings.var_dir
    names = [engine.name for engine in engines.wanted(settings)]
    assert {"kafka", "cassandra", "producer"} <= set(names)
    assert not [name for name in names if name.startswith(("spark", "kafka-", "cassandra-", "producer-"))]


def test_cluster_runs_three_brokers_three_nodes_a_spark_master_two_workers_and_two_producers() -> None:
    settings = cluster()

    assert [e.name for e in engines.in_group(engines.CORE, settings)][:8] == [
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "cassandra-1",
        "cassandra-2",
        "cassandra-3",
        "spark-master",
        "spark-worker-1",
    ]
    assert [e.name for e in engines.in_group(engines.PIPELINE, settings)] == [
        "simulator",
        "producer-0",
        "producer-1",
    ]
    assert (settings.kafka_replication_factor, settings.cassandra_replication_factor) == (3, 3)
    assert (settings.kafka_heap, settings.cassandra_heap) == ("256m", "512M")
    assert settings.state_dir == settings.var_dir / "cluster"
    assert settings.checkpoint_dir == settings.var_dir / "cluster" / "checkpoints" / "spark_stream"


def test_every_client_gets_every_broker_and_node_from_the_runtime_settings() -> None:
    settings = cluster()

    assert settings.kafka_connection().bootstrap_servers == "127.0.0.1:9092,127.0.0.2:9092,127.0.0.3:9092"
    assert settings.cassandra_connection().hosts == ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    airflow = control_plane.connections(settings)
    assert airflow["kafka_default"]["extra"]["bootstrap.servers"] == settings.kafka_bootstrap
    assert airflow["cassandra_default"]["host"] == "127.0.0.1,127.0.0.2,127.0.0.3"
    env = pipeline.producer_environment(settings, 1)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == settings.kafka_bootstrap


def test_status_lists_every_node_with_its_role_address_and_port() -> None:
    rows = {e.name: (e.role, e.url(cluster())) for e in engines.wanted(cluster())}

    assert rows["kafka-2"] == ("broker+controller", "kafka://127.0.0.2:9092")
    assert rows["cassandra-3"] == ("seed", "cql://127.0.0.3:9042")
    assert rows["spark-master"] == ("master", "http://127.0.0.1:8090")
    assert rows["spark-worker-2"] == ("worker", "http://127.0.0.1:8092")
    assert rows["producer-1"] == ("replica-1/2", "http://127.0.0.1:8100/metrics")


# --- bad input: one line naming the setting -------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"KAFKA_REPLICATION_FACTOR": "3"}, ["KAFKA_REPLICATION_FACTOR=3", "larger than", "KAFKA_NODES=1"]),
        (
            {"TOPOLOGY": "cluster", "CASSANDRA_REPLICATION_FACTOR": "1"},
            ["CASSANDRA_REPLICATION_FACTOR=1", "disagrees", "CASSANDRA_NODES=3"],
        ),
        ({"KAFKA_NODES": "3"}, ["KAFKA_NODES=3", "TOPOLOGY=cluster"]),
        ({"TOPOLOGY": "cluster", "CASSANDRA_NODES": "2"}, ["CASSANDRA_NODES=2", "runs 3"]),
        ({"TOPOLOGY": "cluster", "KAFKA_NODES": "4"}, ["KAFKA_NODES"]),
        ({"SPARK_WORKERS": "2"}, ["SPARK_WORKERS=2", "TOPOLOGY=cluster"]),
        (
            {"TOPOLOGY": "cluster", "SPARK_EXECUTOR_MEMORY": "2g"},
            ["SPARK_EXECUTOR_MEMORY=2g", "SPARK_WORKER_MEMORY=1g"],
        ),
        ({"TOPOLOGY": "cluster", "SPARK_EXECUTOR_CORES": "2"}, ["SPARK_EXECUTOR_CORES=2"]),
        ({"TOPOLOGY": "ring"}, ["TOPOLOGY"]),
        (
            {"TOPOLOGY": "cluster", "SPARK_WORKER_WEBUI_PORT": "8089"},
            ["8090", "spark master web UI", "spark-worker-2 web UI (SPARK_WORKER_WEBUI_PORT + 1)"],
        ),
        (
            {"TOPOLOGY": "cluster", "SPARK_MASTER_PORT": "7299"},
            ["7299", "cassandra-2 jmx (CASSANDRA_JMX_PORT + 100)", "spark master"],
        ),
        (
            {"TOPOLOGY": "cluster", "ALERTMANAGER_PORT": "8100"},
            ["8100", "alertmanager", "replica 1 (PRODUCER_METRICS_PORT + 100)"],
        ),
        (
            {"TOPOLOGY": "cluster", "FINNHUB_API_KEY": "k-shared"},
            ["FINNHUB_API_KEY is one key for PRODUCER_REPLICAS=2", "FINNHUB_API_KEYS"],
        ),
        ({"TOPOLOGY": "cluster", "FINNHUB_API_KEYS": "k-a,k-b,k-c"}, ["3 keys for PRODUCER_REPLICAS=2"]),
    ],
)
def test_disagreeing_topology_settings_are_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], words: list[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as refused:
        load_settings(follow_running=False)
    assert "\n" not in str(refused.value)
    assert all(word in str(refused.value) for word in words), str(refused.value)


def test_one_port_on_two_nodes_addresses_is_no_clash() -> None:
    settings = cluster()

    assert settings.endpoints["kafka-1"] == ("127.0.0.1", 9092)
    assert settings.endpoints["kafka-2"] == ("127.0.0.2", 9092)
    assert settings.endpoints["cassandra-3 jmx (CASSANDRA_JMX_PORT + 200)"] == ("127.0.0.1", 7399)


def test_make_up_refuses_a_replication_factor_above_the_nodes_before_anything_starts(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("TOPOLOGY", "VAR_DIR")}
    result = subprocess.run(
        [sys.executable, "-m", "stack", "up"],
        cwd=ROOT,
        env={
            **clean,
            "VAR_DIR": str(tmp_path / "var"),
            "TOPOLOGY": "single",
            "KAFKA_REPLICATION_FACTOR": "3",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("stack: invalid configuration: KAFKA_REPLICATION_FACTOR=3 is larger")
    assert not (tmp_path / "var" / "run").exists(), "something was rendered or started"


def test_env_example_leaves_the_topology_dependent_settings_empty() -> None:
    example = dotenv_values(ROOT / ".env.example")

    assert example["TOPOLOGY"] == "single"
    for name in (
        "KAFKA_NODES",
        "CASSANDRA_NODES",
        "KAFKA_REPLICATION_FACTOR",
        "CASSANDRA_REPLICATION_FACTOR",
    ):
        assert example[name] == "", name
    for name in ("KAFKA_HEAP", "CASSANDRA_HEAP", "PRODUCER_REPLICAS", "SPARK_WORKERS"):
        assert example[name] == "", name


# --- what a cluster renders ---------------------------------------------------------------------------
@pytest.fixture
def cluster_run(installed: Path) -> Path:
    settings = cluster(var_dir=installed)
    pipeline.write_environment(settings)
    render.render_all(settings)
    return installed / "run"


def test_each_broker_is_a_voter_on_its_own_address_with_its_own_log_dir(cluster_run: Path) -> None:
    var = cluster_run.parent
    servers = [properties(cluster_run / f"kafka-{i}" / "server.properties") for i in (1, 2, 3)]

    assert [s["node.id"] for s in servers] == ["1", "2", "3"]
    assert {s["controller.quorum.voters"] for s in servers} == {
        "1@127.0.0.1:9097,2@127.0.0.2:9097,3@127.0.0.3:9097"
    }
    assert [s["listeners"] for s in servers] == [
        f"PLAINTEXT://127.0.0.{i}:9092,CONTROLLER://127.0.0.{i}:9097" for i in (1, 2, 3)
    ]
    assert [s["log.dirs"] for s in servers] == [
        str(var / "cluster" / "data" / f"kafka-{i}") for i in (1, 2, 3)
    ]
    for server in servers:
        assert server["offsets.topic.replication.factor"] == "3"
        assert server["transaction.state.log.min.isr"] == "2"
        assert (server["default.replication.factor"], server["min.insync.replicas"]) == ("3", "2")
        assert server["log.cleaner.dedupe.buffer.size"] == str(16 * 1024 * 1024)
    assert "-Xmx256m" in program(cluster_run, "kafka-2")["command"]
    assert "127.0.0.2:7071:" in program(cluster_run, "kafka-2")["command"]


def test_each_cassandra_node_has_its_address_jmx_port_data_and_one_datacenter(cluster_run: Path) -> None:
    var = cluster_run.parent
    for i in (1, 2, 3):
        conf = yaml.safe_load((cluster_run / f"cassandra-{i}" / "cassandra.yaml").read_text())
        command = program(cluster_run, f"cassandra-{i}")["command"]
        assert conf["listen_address"] == conf["rpc_address"] == f"127.0.0.{i}"
        assert conf["seed_provider"][0]["parameters"][0]["seeds"] == (
            "127.0.0.1:7000,127.0.0.2:7000,127.0.0.3:7000"
        )
        assert conf["endpoint_snitch"] == "GossipingPropertyFileSnitch"
        assert conf["allocate_tokens_for_local_replication_factor"] == 3
        assert conf["commitlog_directory"].startswith(str(var / "cluster" / "data" / f"cassandra-{i}"))
        assert f"-Dcassandra.jmx.local.port={7199 + (i - 1) * 100}" in command
        assert f"-Dcassandra-rackdc.properties=file://{cluster_run / f'cassandra-{i}'}" in command
        assert "-Xmx512M" in command
        assert (
            "dc=datacenter1" in (cluster_run / f"cassandra-{i}" / "cassandra-rackdc.properties").read_text()
        )


def test_spark_runs_from_pyspark_classes_with_its_uis_off_airflows_port(cluster_run: Path) -> None:
    var = cluster_run.parent
    master = program(cluster_run, "spark-master")
    worker = program(cluster_run, "spark-worker-2")
    defaults = (cluster_run / "spark" / "conf" / "spark-defaults.conf").read_text().split()

    assert "spark-class org.apache.spark.deploy.master.Master" in master["command"]
    assert "--webui-port 8090" in master["command"] and "8080" not in master["command"]
    assert "spark.master.rest.enabled=false" in master["environment"]
    assert 'SPARK_DAEMON_MEMORY="256m"' in master["environment"]
    assert "org.apache.spark.deploy.worker.Worker" in worker["command"]
    assert f"--work-dir {var / 'cluster' / 'data' / 'spark-worker-2'}" in worker["command"]
    assert "--webui-port 8092" in worker["command"] and "spark://127.0.0.1:7077" in worker["command"]
    assert 'SPARK_LOCAL_IP="127.0.0.1"' in worker["environment"]
    assert defaults[defaults.index("spark.cores.max") + 1] == "2"
    assert defaults[defaults.index("spark.executor.cores") + 1] == "1"
    assert defaults[defaults.index("spark.pyspark.python") + 1] == sys.executable


def test_spark_daemons_get_pysparks_folder_as_their_home(cluster_run: Path) -> None:
    # Without SPARK_HOME, spark-class asks the first `python3` on supervisord's PATH (not the venv's) to
    # find it, and the master dies at once (found by the first real start of the cluster).
    for name in ("spark-master", "spark-worker-1", "spark-worker-2"):
        environment = program(cluster_run, name)["environment"]
        home = re.search(r'SPARK_HOME="([^"]+)"', environment)
        assert home is not None, name
        assert (Path(home.group(1)) / "bin" / "load-spark-env.sh").is_file()
        assert (Path(home.group(1)) / "jars").is_dir()


def test_each_producer_replica_gets_its_index_count_and_metrics_port(cluster_run: Path) -> None:
    for replica in (0, 1):
        env = dotenv_values(cluster_run / "producer" / f"producer-{replica}.env")
        assert env["PRODUCER_REPLICA_INDEX"] == str(replica)
        assert env["PRODUCER_REPLICA_COUNT"] == "2"
        assert env["PRODUCER_METRICS_PORT"] == str(8000 + replica * 100)
        assert f"producer-{replica}.env" in program(cluster_run, f"producer-{replica}")["command"]
    assert not (cluster_run / "producer" / "producer.env").exists()


def test_each_producer_replica_gets_its_own_finnhub_key(installed: Path) -> None:
    settings = cluster(var_dir=installed, finnhub_api_keys=SecretStr("key-zero, key-one"))
    pipeline.write_environment(settings)

    assert not settings.uses_simulator
    for replica, key in enumerate(("key-zero", "key-one")):
        env = dotenv_values(installed / "run" / "producer" / f"producer-{replica}.env")
        assert env["FINNHUB_API_KEY"] == key
        assert env["FINNHUB_WS_URL"] == settings.finnhub_ws_url


def test_prometheus_scrapes_every_broker_node_and_replica(cluster_run: Path) -> None:
    config = yaml.safe_load((cluster_run / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [target for config in job["static_configs"] for target in config["targets"]]
        for job in config["scrape_configs"]
    }

    assert targets["kafka"] == [f"127.0.0.{i}:7071" for i in (1, 2, 3)]
    assert targets["cassandra"] == [f"127.0.0.{i}:7072" for i in (1, 2, 3)]
    assert targets["producer"] == ["127.0.0.1:8000", "127.0.0.1:8100"]


def test_switching_back_to_single_removes_the_cluster_programs(cluster_run: Path) -> None:
    single = RuntimeSettings(var_dir=cluster_run.parent)
    pipeline.write_environment(single)
    render.render_all(single)

    names = sorted(p.stem for p in (cluster_run / "programs").glob("*.conf"))
    assert "kafka" in names and "producer" in names
    assert not [n for n in names if n.startswith(("kafka-", "cassandra-", "spark", "producer-"))]
    assert sorted(p.name for p in (cluster_run / "producer").glob("*.env")) == ["producer.env"]


def test_a_cluster_with_enable_ssl_secures_every_broker_on_its_own_address(installed: Path) -> None:
    settings = cluster(var_dir=installed, enable_ssl=True)
    from stack import security

    passwords = security.preflight(settings)
    render.render_all(settings)

    for i in (1, 2, 3):
        server = properties(installed / "run" / f"kafka-{i}" / "server.properties")
        assert server["listeners"] == f"SASL_SSL://127.0.0.{i}:9092,CONTROLLER://127.0.0.{i}:9097"
        assert "PLAINTEXT" not in server["listener.security.protocol.map"]
    connection = settings.kafka_connection()
    assert connection.secured and connection.bootstrap_servers.count(",") == 2
    assert settings.cassandra_connection().ca_certs and len(settings.cassandra_connection().hosts) == 3
    assert passwords is not None


# --- Airflow and the Spark job ------------------------------------------------------------------------
def test_airflow_submits_to_the_standalone_master_with_the_cluster_defaults(installed: Path) -> None:
    settings = cluster(var_dir=installed)
    env = control_plane.environment(settings, Path(sys.executable).parent)

    assert control_plane.spark_connection(settings) == {
        "conn_type": "spark",
        "host": "spark://127.0.0.1",
        "port": 7077,
        "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
    }
    assert env["SPARK_CONF_DIR"] == str(installed / "run" / "spark" / "conf")
    assert env["PYSPARK_PYTHON"] == str(Path(sys.executable).parent / "python")
    assert "PYTHONPATH" not in env
    assert env["KAFKA_REPLICATION_FACTOR"] == env["CASSANDRA_REPLICATION_FACTOR"] == "3"
    single = control_plane.environment(RuntimeSettings(var_dir=installed), Path(sys.executable).parent)
    assert "SPARK_CONF_DIR" not in single
    assert control_plane.spark_connection(RuntimeSettings())["host"] == "local[*]"


def test_the_spark_provider_resolves_spark_default_to_the_master_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    from finnhub_pipeline.connections import SPARK_CONN_ID, as_environment

    name, document = as_environment(SPARK_CONN_ID, control_plane.spark_connection(cluster()))
    monkeypatch.setenv(name, document)

    resolved = SparkSubmitHook(conn_id=SPARK_CONN_ID)._resolve_connection()

    assert resolved["master"] == "spark://127.0.0.1:7077"
    assert resolved["deploy_mode"] == "client"


def test_nodetool_reaches_each_node_on_its_own_jmx_port() -> None:
    settings = cluster()

    for node in (1, 2, 3):
        command = tools.nodetool(settings, "status", node=node)
        assert command[command.index("-p") + 1] == str(7199 + (node - 1) * 100)
    with pytest.raises(KeyError, match="no Cassandra node 4"):
        tools.nodetool(settings, node=4)


def test_tools_follow_the_running_topology_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("TOPOLOGY", raising=False)
    marker = running_topology_file(tmp_path)
    marker.parent.mkdir(parents=True)
    marker.write_text("cluster\n")  # an older `stack up`'s marker: the topology alone

    assert load_settings().topology == "cluster"
    assert load_settings(follow_running=False).topology == "single"
    monkeypatch.setenv("TOPOLOGY", "single")
    assert load_settings().topology == "single"


def test_tools_reach_a_cluster_started_with_settings_dot_env_does_not_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make up TOPOLOGY=cluster KAFKA_REPLICATION_FACTOR=3 ...` on a `.env` written for one node (RF 1):
    `make status` and `make down`, run without those variables, still find the cluster's nodes."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    for name in ("TOPOLOGY", "KAFKA_REPLICATION_FACTOR", "CASSANDRA_REPLICATION_FACTOR"):
        monkeypatch.setenv(name, {"TOPOLOGY": "cluster"}.get(name, "3"))
    record_running_shape(RuntimeSettings.load())
    for name, value in (("TOPOLOGY", "single"), ("KAFKA_REPLICATION_FACTOR", "1")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CASSANDRA_REPLICATION_FACTOR", "1")
    with pytest.raises(ConfigError, match="KAFKA_REPLICATION_FACTOR=1"):
        RuntimeSettings.load(topology="cluster")  # what the topology alone gave: a refusal
    monkeypatch.delenv("TOPOLOGY")

    running = load_settings()

    assert running.topology == "cluster"
    assert (running.kafka_replication_factor, running.cassandra_replication_factor) == (3, 3)
    assert [e.name for e in engines.in_group(engines.CORE, running)][:3] == ["kafka-1", "kafka-2", "kafka-3"]
    assert load_settings(follow_running=False).topology == "single"


def test_down_needs_no_valid_configuration(tmp_path: Path) -> None:
    """A `.env` that no longer validates must not keep `make down` from stopping what runs."""
    env = {**os.environ, "VAR_DIR": str(tmp_path), "KAFKA_PORT": "not-a-port"}
    env.pop("TOPOLOGY", None)
    result = subprocess.run(
        [sys.executable, "-m", "stack", "down"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1
    assert "invalid configuration: KAFKA_PORT" in result.stderr
    assert "stopped every service" in result.stdout


def test_the_brokers_share_one_cluster_id(tmp_path: Path) -> None:
    settings = cluster(var_dir=tmp_path)
    first = topology.kafka_nodes(settings)[0]
    assert first.data_dir is not None
    first.data_dir.mkdir(parents=True)
    (first.data_dir / "meta.properties").write_text("node.id=1\ncluster.id=AbCdEf\nversion=1\n")

    assert tools._cluster_id(settings) == "AbCdEf"
    assert not tools.kafka_storage_formatted(settings)
