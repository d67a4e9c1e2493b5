"""Checks docker-compose.yaml, kubernetes/ and deploy/docker/ against the code, without Docker or a cluster.

Versions must match the local runtime's pins, secrets must only be referenced, the producer's variables must
be ones its settings read, and docs/api-reference.md must list exactly the metrics, reasons and alerts the
code and rules define.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobs.spark_stream import metrics as stream_metrics
from jobs.spark_stream.settings import StreamSettings
from services.configuration import SECRETS_DIR_VARIABLE
from services.producer.frames import DeadLetterReason as ProducerReason
from services.producer.metrics import METRIC_NAMES
from services.producer.settings import ProducerSettings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
KUBERNETES = ROOT / "kubernetes"
DOCKER = ROOT / "deploy" / "docker"
API_REFERENCE = ROOT / "docs" / "api-reference.md"
SECRET_NAME = re.compile(r"(API_KEY|PASSWORD|SECRET|TOKEN|WEBHOOK)")
ONE_SHOT_SERVICES = {"airflow-init", "security-init", "pipeline-bootstrap"}
"""Jobs that run once and exit; a healthcheck has nothing to watch. Others wait for them to complete."""


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def kubernetes_documents() -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        documents += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    # kustomization.yaml is kustomize's own file, not an object the cluster stores.
    return [(name, doc) for name, doc in documents if doc["kind"] != "Kustomization"]


def pod_templates() -> list[tuple[str, dict[str, Any]]]:
    return [
        (doc["metadata"]["name"], doc["spec"]["template"])
        for _, doc in kubernetes_documents()
        if doc["kind"] in {"Deployment", "StatefulSet"}
    ]


def all_containers() -> list[tuple[str, dict[str, Any]]]:
    """Every container the manifests run, init containers and Jobs' included, by workload name."""
    return [
        (doc["metadata"]["name"], container)
        for _, doc in kubernetes_documents()
        if doc["kind"] in {"Deployment", "StatefulSet", "Job"}
        for container in doc["spec"]["template"]["spec"].get("initContainers", [])
        + doc["spec"]["template"]["spec"]["containers"]
    ]


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def pom_versions() -> dict[str, str]:
    text = (ROOT / "deploy" / "local" / "jars" / "pom.xml").read_text()
    return dict(re.findall(r"<([a-z.]+)\.version>([^<]+)</", text))


def image_tag(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":")
    return (name, tag) if name and "/" not in tag else (image, "")


def dockerfile_from(name: str) -> str:
    lines = (DOCKER / name).read_text().splitlines()
    return next(line.split()[1] for line in lines if line.startswith("FROM "))


def producer_variables() -> set[str]:
    return set(ProducerSettings.environment_variables().values())


def stream_variables() -> set[str]:
    return set(StreamSettings.environment_variables().values())


def entrypoint_variables() -> set[str]:
    tree = ast.parse((DOCKER / "producer_entrypoint.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ENTRYPOINT_VARIABLES":
            return set(ast.literal_eval(node.value))
    raise AssertionError("ENTRYPOINT_VARIABLES not found in producer_entrypoint.py")


def api_reference_section(title: str) -> str:
    text = API_REFERENCE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def documented_metric_names() -> set[str]:
    """The first column of every table row in the metrics section, e.g. | `kafka_messages_sent_total` |."""
    section = api_reference_section("Prometheus metrics")
    return set(re.findall(r"^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \|", section, flags=re.MULTILINE))


# --- docker-compose.yaml ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(compose_services()))
def test_compose_service_has_a_healthcheck_or_is_a_one_shot_job(name: str) -> None:
    service = compose_services()[name]
    if name in ONE_SHOT_SERVICES:
        assert service.get("restart") == "no"
        waiting = [
            other
            for other in compose_services().values()
            if isinstance(other.get("depends_on"), dict)
            and other["depends_on"].get(name, {}).get("condition") == "service_completed_successfully"
        ]
        assert waiting, f"nothing waits for the one-shot job {name}"
    else:
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"
        assert service.get("restart") in {"unless-stopped", "always"}, f"{name} is not restarted"


@pytest.mark.parametrize("name", sorted(compose_services()))
def test_compose_image_tag_is_pinned(name: str) -> None:
    image = compose_services()[name]["image"]
    _, tag = image_tag(image)

    assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned"


def test_compose_dependencies_name_existing_services() -> None:
    services = compose_services()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_compose_builds_use_existing_dockerfiles_and_one_tag_per_dockerfile() -> None:
    tags: dict[str, set[str]] = {}
    for name, service in compose_services().items():
        if "build" in service:
            dockerfile = service["build"]["dockerfile"]
            assert (ROOT / service["build"]["context"] / dockerfile).is_file(), f"{name}: {dockerfile}"
            tags.setdefault(dockerfile, set()).add(service["image"])
    assert all(len(images) == 1 for images in tags.values()), tags


def test_image_versions_match_the_local_runtime() -> None:
    pins, poms = requirement_pins(), pom_versions()
    images = {image_tag(s["image"])[0]: image_tag(s["image"])[1] for s in compose_services().values()}
    makefile = (ROOT / "Makefile").read_text()
    statsd_version = re.search(r"^STATSD_EXPORTER_VERSION\s*:=\s*(\S+)", makefile, re.MULTILINE)

    assert images["finnhub-pipeline/kafka"] == poms["kafka"]
    assert images["finnhub-pipeline/cassandra"] == poms["cassandra"]
    assert images["finnhub-pipeline/airflow"] == pins["apache-airflow"]
    assert images["finnhub-pipeline/spark-stream"] == pins["pyspark"]
    assert statsd_version and images["prom/statsd-exporter"] == statsd_version.group(1)
    assert dockerfile_from("kafka.Dockerfile") == f"apache/kafka:{poms['kafka']}"
    assert dockerfile_from("cassandra.Dockerfile") == f"cassandra:{poms['cassandra']}"
    assert dockerfile_from("airflow.Dockerfile") == f"apache/airflow:{pins['apache-airflow']}-python3.11"


@pytest.mark.parametrize("dockerfile", sorted(p.name for p in DOCKER.glob("*.Dockerfile")))
def test_dockerfile_pins_its_base_image_and_python_3_11(dockerfile: str) -> None:
    base = dockerfile_from(dockerfile)
    _, tag = image_tag(base)

    assert tag and tag != "latest" and re.match(r"\d+\.\d+", tag), base
    if base.startswith("python:"):
        assert tag.startswith("3.11."), base


@pytest.mark.parametrize(
    "dockerfile", ["producer.Dockerfile", "spark-stream.Dockerfile", "airflow.Dockerfile"]
)
def test_python_images_install_requirements_under_constraints_as_non_root(dockerfile: str) -> None:
    text = (DOCKER / dockerfile).read_text()
    pins = requirement_pins()

    assert "-c /tmp/pins/constraints.txt" in text and "requirements.txt" in text
    selected = re.search(r"grep -E '\^\(([^)]+)\)=='", text)
    if selected:  # a subset of requirements.txt: every name must be pinned there
        missing = [name for name in selected.group(1).split("|") if name.lower() not in pins]
        assert missing == []
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_jmx_agent_version_matches_the_pom() -> None:
    version = pom_versions()["jmx.exporter"]
    texts = [(DOCKER / f).read_text() for f in ("kafka.Dockerfile", "cassandra.Dockerfile")]
    texts.append(COMPOSE_FILE.read_text())

    for text in texts:
        found = set(re.findall(r"jmx_prometheus_javaagent-([\d.]+)\.jar", text))
        assert found == {version}


def test_producer_restarts_and_reads_only_its_own_variables() -> None:
    producer = compose_services()["finnhub-producer"]
    # PIPELINE_SECRETS_DIR: read by every settings class (its folder of secret files, one per field).
    known = producer_variables() | entrypoint_variables() | {SECRETS_DIR_VARIABLE}

    assert producer["restart"] == "unless-stopped"
    assert set(producer["environment"]) - known == set()
    # Not .env as a whole: it holds Airflow's database password, its secret keys and the Slack webhook.
    assert "env_file" not in producer


def test_compose_prometheus_has_the_same_jobs_as_the_local_one() -> None:
    local = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    docker = yaml.safe_load((DOCKER / "prometheus.yml").read_text())

    assert {j["job_name"] for j in docker["scrape_configs"]} == {
        j["job_name"] for j in local["scrape_configs"]
    }


def _compose_secret_values(node: Any, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str | int) and SECRET_NAME.search(str(key)):
                found.append((f"{path}.{key}", str(value)))
            found += _compose_secret_values(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _compose_secret_values(item, f"{path}[{index}]")
    return found


def test_compose_inlines_no_secret() -> None:
    values = _compose_secret_values(compose())

    assert values, "expected the Airflow and PostgreSQL secrets to be referenced"
    # A value may name a ${VARIABLE} of .env, a mounted secret file under /run/secrets, or the Airflow
    # secrets backend that reads one.
    inlined = [
        (where, value)
        for where, value in values
        if not re.fullmatch(r"\$\{[A-Z0-9_]+(:[-?][^}]*)?\}", value)
        and "/run/secrets/" not in value
        and value != "airflow.secrets.local_filesystem.LocalFilesystemBackend"
    ]
    assert inlined == []
    assert not re.search(r"FINNHUB_API_KEYS?\s*[:=]\s*[A-Za-z0-9]", COMPOSE_FILE.read_text())


# --- kubernetes/ --------------------------------------------------------------------------------------
def test_kubernetes_images_are_pinned_and_match_compose() -> None:
    compose_images = {s["image"] for s in compose_services().values()}
    for name, container in all_containers():
        assert container["image"] in compose_images, f"{name}: {container['image']}"


def test_kubernetes_producer_is_a_statefulset_indexed_by_pod_ordinal() -> None:
    documents = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in kubernetes_documents()}
    producer = documents[("StatefulSet", "finnhub-producer")]
    config = documents[("ConfigMap", "pipeline-config")]["data"]
    container = producer["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item for item in container["env"]}

    assert ("Deployment", "finnhub-producer") not in documents
    assert producer["spec"]["replicas"] == int(config["PRODUCER_REPLICA_COUNT"])
    index_source = env["PRODUCER_REPLICA_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index_source == "metadata.labels['apps.kubernetes.io/pod-index']"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/metrics"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports[container["livenessProbe"]["httpGet"]["port"]] == 8000
    assert set(env) - (producer_variables() | entrypoint_variables()) == {SECRETS_DIR_VARIABLE}


def test_kubernetes_config_names_only_variables_some_service_reads() -> None:
    config = next(
        doc
        for _, doc in kubernetes_documents()
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "pipeline-config"
    )["data"]
    bootstrap = {"KAFKA_REPLICATION_FACTOR", "CASSANDRA_REPLICATION_FACTOR"}  # read by the bootstrap DAG

    assert set(config) - (producer_variables() | stream_variables() | bootstrap) == set()


def test_kubernetes_spark_job_sizes_its_driver_heap_at_start_as_the_dag_does() -> None:
    from finnhub_pipeline.stream_submit import driver_java_options

    (args,) = [
        container["args"]
        for name, container in all_containers()
        if name == "spark-stream" and "--driver-memory" in container.get("args", [])
    ]
    memory = args[args.index("--driver-memory") + 1]

    assert args[args.index("--driver-java-options") + 1] == driver_java_options(memory)


def test_kubernetes_engines_are_statefulsets_with_volumes() -> None:
    kinds = {
        doc["metadata"]["name"]: doc for _, doc in kubernetes_documents() if doc["kind"] == "StatefulSet"
    }

    for engine in ("kafka", "cassandra"):
        assert kinds[engine]["spec"]["volumeClaimTemplates"], engine


@pytest.mark.parametrize("name", [name for name, _ in pod_templates()])
def test_kubernetes_pods_carry_scrape_annotations_and_probes(name: str) -> None:
    template = dict(pod_templates())[name]
    annotations = template["metadata"]["annotations"]
    ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"]}

    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) in ports
    for container in template["spec"]["containers"]:
        assert "readinessProbe" in container and "livenessProbe" in container


def test_kubernetes_inlines_no_secret() -> None:
    """More in test_kubernetes_security.py: no password, key or certificate anywhere in a manifest."""
    for file_name, doc in kubernetes_documents():
        if doc["kind"] == "Secret":
            values = {**doc.get("data", {}), **doc.get("stringData", {})}
            assert all(value in ("", None) for value in values.values()), file_name
        if doc["kind"] == "ConfigMap":
            assert not [key for key in doc["data"] if SECRET_NAME.search(key)]
    for _, container in all_containers():
        for item in container.get("env", []):
            if SECRET_NAME.search(item["name"]) and item["name"] != SECRETS_DIR_VARIABLE:  # a folder's path
                assert "value" not in item and "secretKeyRef" in item["valueFrom"], item["name"]


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    manifests = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml", "secret.template.yaml"}

    assert set(kustomization["resources"]) == manifests


# --- docs/api-reference.md ----------------------------------------------------------------------------
def _code_metric_names() -> set[str]:
    names = set(METRIC_NAMES.values())
    names |= {v for k, v in vars(stream_metrics).items() if k.isupper() and isinstance(v, str)}
    return names


def _jmx_name_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for path in (ROOT / "monitoring" / "jmx").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            patterns.append(re.compile(re.sub(r"\\\$\d", "[a-z0-9_]+", re.escape(rule["name"])) + "$"))
    return patterns


def _defined_anywhere(name: str) -> bool:
    for folder in ("services", "jobs", "monitoring"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".yml", ".yaml"} and re.search(
                rf"(?<![\w:]){re.escape(name)}(?![\w:])", path.read_text()
            ):
                return True
    return any(pattern.match(name) for pattern in _jmx_name_patterns())


def test_every_code_metric_is_documented() -> None:
    missing = _code_metric_names() - documented_metric_names()

    assert missing == set()


def test_every_statsd_and_recording_rule_name_is_documented() -> None:
    mapping = yaml.safe_load((ROOT / "monitoring" / "statsd" / "mapping.yml").read_text())["mappings"]
    recording = yaml.safe_load(
        (ROOT / "monitoring" / "prometheus" / "rules" / "pipeline-recording.yml").read_text()
    )
    names = {m["name"] for m in mapping}
    names |= {r["record"] for g in recording["groups"] for r in g["rules"]}

    assert names - documented_metric_names() == set()


def test_every_documented_metric_exists_in_the_code_or_monitoring_config() -> None:
    documented = documented_metric_names()
    undefined = sorted(name for name in documented if not _defined_anywhere(name))

    assert len(documented) > 30
    assert undefined == []


def test_every_alert_is_documented_with_its_runbook_link() -> None:
    section = api_reference_section("Alerts")
    alerts = [
        rule["alert"]
        for path in sorted((ROOT / "monitoring" / "prometheus" / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]

    missing = [a for a in alerts if f"[{a}](troubleshooting.md#{a.lower()})" not in section]
    assert alerts and missing == []


def _spark_dead_letter_reasons() -> set[str]:
    tree = ast.parse((ROOT / "jobs" / "spark_stream" / "transforms.py").read_text())
    reasons: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "DeadLetterReason":
            reasons |= {stmt.value.value for stmt in node.body if isinstance(stmt, ast.Assign)}  # type: ignore[attr-defined]
    return reasons


def test_every_dead_letter_reason_is_documented() -> None:
    section = api_reference_section("Dead letters")
    producer, spark = {r.value for r in ProducerReason}, _spark_dead_letter_reasons()
    reasons = producer | spark

    assert (len(producer), len(spark)) == (11, 6)
    assert [r for r in sorted(reasons) if f"`{r}`" not in section] == []


def test_every_cassandra_column_is_documented() -> None:
    section = api_reference_section("Cassandra tables")
    for path in sorted((ROOT / "sql" / "cql").glob("V*.cql")):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        body = re.search(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+) \((.*?)PRIMARY KEY", text, re.DOTALL)
        if body is None:
            continue
        table, columns = body.group(1), re.findall(r"^\s*(\w+)\s+\w", body.group(2), re.MULTILINE)
        ttl = re.search(r"default_time_to_live = (\d+)", text)
        assert f"`{table}`" in section
        assert ttl and ttl.group(1) in section.replace(",", ""), table
        assert [c for c in columns if f"`{c}`" not in section] == [], table


# --- deploy/docker/producer_entrypoint.py -------------------------------------------------------------
def _entrypoint() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("producer_entrypoint", DOCKER / "producer_entrypoint.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_replica_gets_index_and_key_from_its_container_number() -> None:
    entrypoint = _entrypoint()
    env = {"PRODUCER_REPLICA_COUNT": "3", "FINNHUB_API_KEYS": "k0,k1,k2"}

    resolved = entrypoint.replica_environment(
        env, container_name=lambda: "finnhub-pipeline-finnhub-producer-2.finnhub-pipeline_default"
    )

    assert resolved["PRODUCER_REPLICA_INDEX"] == "1"
    assert resolved["FINNHUB_API_KEY"] == "k1"
    assert "FINNHUB_API_KEYS" not in resolved


def test_kubernetes_replica_index_from_the_environment_wins() -> None:
    entrypoint = _entrypoint()
    env = {"PRODUCER_REPLICA_COUNT": "3", "PRODUCER_REPLICA_INDEX": "2", "FINNHUB_API_KEYS": "k0,k1,k2"}

    resolved = entrypoint.replica_environment(env, container_name=lambda: "unused-7")

    assert (resolved["PRODUCER_REPLICA_INDEX"], resolved["FINNHUB_API_KEY"]) == ("2", "k2")


@pytest.mark.parametrize(
    ("env", "container"),
    [
        ({"PRODUCER_REPLICA_COUNT": "2", "FINNHUB_API_KEYS": "k0,k1"}, "proj-finnhub-producer-3"),
        ({"PRODUCER_REPLICA_COUNT": "3", "FINNHUB_API_KEYS": "k0,k1"}, "proj-finnhub-producer-1"),
        ({"PRODUCER_REPLICA_COUNT": "2", "FINNHUB_API_KEY": "shared"}, "proj-finnhub-producer-1"),
    ],
    ids=["more-replicas-than-count", "fewer-keys-than-replicas", "one-key-for-two-replicas"],
)
def test_replica_misconfiguration_is_refused_without_printing_a_key(
    env: dict[str, str], container: str
) -> None:
    entrypoint = _entrypoint()

    with pytest.raises(entrypoint.ReplicaConfigError) as error:
        entrypoint.replica_environment(env, container_name=lambda: container)
    assert "k0" not in str(error.value) and "shared" not in str(error.value)


def test_replica_without_a_key_reads_the_simulator() -> None:
    entrypoint = _entrypoint()
    env = {"FINNHUB_SIMULATOR_URL": "ws://simulator:8765", "FINNHUB_API_KEY": ""}

    resolved = entrypoint.replica_environment(env, container_name=lambda: "unused-1")

    assert resolved["FINNHUB_WS_URL"] == "ws://simulator:8765"
    assert "FINNHUB_API_KEY" not in resolved
    assert ProducerSettings(**{k.lower(): v for k, v in resolved.items()}).ws_url == "ws://simulator:8765"


@pytest.mark.parametrize(
    "dockerfile", ["producer.Dockerfile", "spark-stream.Dockerfile", "airflow.Dockerfile"]
)
def test_python_images_install_the_project_as_a_package_not_a_pythonpath(dockerfile: str) -> None:
    text = (DOCKER / dockerfile).read_text()

    assert "PYTHONPATH=" not in text
    assert "COPY pyproject.toml" in text or "COPY --chown=airflow:root pyproject.toml" in text
    assert re.search(r"pip install (--no-cache-dir )?--no-deps /opt/pipeline$", text, re.MULTILINE)


def test_compose_unpauses_the_stream_supervisor_and_every_maintenance_dag() -> None:
    from finnhub_pipeline.dag_defaults import MAINTENANCE_DAG_IDS

    command = " ".join(compose_services()["pipeline-bootstrap"]["command"])
    listed = re.search(r"for dag in ([\w ]+); do airflow dags unpause", command)
    assert "airflow dags unpause stream_supervisor" in command
    assert listed and tuple(listed.group(1).split()) == MAINTENANCE_DAG_IDS
