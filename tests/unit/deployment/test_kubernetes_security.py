"""Checks that kubernetes/ is secured as the local runtime is with ENABLE_SSL=true, without a cluster.

The manifests must pass Kubernetes' strict schemas; every Secret they read must be in the template and no
secret may be written in them; Kafka and Cassandra must carry the local runtime's security settings, users,
ACLs, roles and grants; the producer and the Spark job must be given only settings their classes read. The
scripts the manifests run (storage format, security Jobs, Cassandra's certificate, the README's commands) are
run here against stand-ins for Kafka's tools and kubectl.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cassandra import AuthenticationFailed  # type: ignore[attr-defined]
from cassandra.cluster import NoHostAvailable

from jobs.spark_stream.settings import StreamSettings
from services import contracts
from services.configuration import SECRETS_DIR_VARIABLE, PipelineSettings
from services.producer.settings import ProducerSettings
from stack import cassandra_security, credentials, kafka_security, pki, security
from stack.credentials import Principal

ROOT = Path(__file__).resolve().parents[3]
KUBERNETES = ROOT / "kubernetes"
SCHEMA_VERSIONS = ("1.28.0", "1.37.0")
"""The oldest Kubernetes the manifests support (the pod-index label) and the newest schema shipped."""
PASSWORD_SECRETS = {
    credentials.KAFKA_BROKER: "kafka-broker-password",
    credentials.KAFKA_ADMIN: "kafka-admin-password",
    credentials.KAFKA_PRODUCER: "kafka-producer-password",
    credentials.KAFKA_SPARK: "kafka-spark-password",
    credentials.CASSANDRA_ADMIN: "cassandra-admin-password",
    credentials.CASSANDRA_WRITER: "cassandra-writer-password",
    credentials.CASSANDRA_READER: "cassandra-reader-password",
}
"""Each principal's Secret (key `password`); the local runtime's principals, all of them."""
PEM_OR_KEY = re.compile(r"-----BEGIN [A-Z ]*(CERTIFICATE|PRIVATE KEY)-----|MII[A-Za-z0-9+/]{40}")
PASSWORD_LITERAL = re.compile(
    r"""password\s*[=:]\s*(["'])(?![%$<{"'])[^"'\n]+\1|^\s*[\w.-]*password\s*[=:]\s*(?![\s"'%$<{(])\S+""",
    re.IGNORECASE | re.MULTILINE,
)
"""A password written as a value: quoted (`password="..."`) or as a whole YAML or properties value."""
FAKE_PASSWORDS = {
    "broker": "broker-0123456789abcdef",
    "admin": "admin-0123456789abcdef",
    "producer": "producer-0123456789abcd",
    "spark": "spark-0123456789abcdef",
}
BASH = shutil.which("bash")
OPENSSL = shutil.which("openssl")


# --- reading the manifests ----------------------------------------------------------------------------
def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [(name, doc) for name, doc in found if doc["kind"] != "Kustomization"]


def find(kind: str, name: str) -> dict[str, Any]:
    return next(d for _, d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def workloads() -> dict[str, dict[str, Any]]:
    """Every pod spec the manifests run, by workload name (StatefulSets, Deployments and Jobs)."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for _, doc in documents()
        if doc["kind"] in {"StatefulSet", "Deployment", "Job"}
    }


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("initContainers", []) + pod["containers"]


def template_secrets() -> dict[str, set[str]]:
    path = KUBERNETES / "secret.template.yaml"
    return {
        doc["metadata"]["name"]: set(doc.get("stringData", {})) | set(doc.get("data", {}))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }


def _volume_sources(volume: dict[str, Any]) -> list[dict[str, Any]]:
    """A Secret volume as the one source of a projected volume, so both read alike."""
    if "secret" in volume:
        return [{"secret": volume["secret"]}]
    sources: list[dict[str, Any]] = volume.get("projected", {}).get("sources", [])
    return sources


def secret_references(pod: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef and every Secret volume item of a pod spec."""
    for container in containers(pod):
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                yield ref["name"], ref["key"]
        for source in container.get("envFrom", []):
            assert "secretRef" not in source, "a whole Secret as environment: name its keys instead"
    for volume in pod.get("volumes", []):
        sources = _volume_sources(volume)
        for source in sources:
            if "secret" in source:
                secret = source["secret"]
                name = secret.get("secretName") or secret["name"]
                assert secret.get("items"), f"volume {volume['name']}: name the keys of Secret {name}"
                yield from ((name, item["key"]) for item in secret["items"])


def mounted_files(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Path in the container -> (Secret, key), for every Secret file mounted into the container."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})  # absent: a volume claim template
        sources = _volume_sources(volume)
        for source in sources:
            if "secret" in source:
                name = source["secret"].get("secretName") or source["secret"]["name"]
                for item in source["secret"]["items"]:
                    files[f"{mount['mountPath']}/{item['path']}"] = (name, item["key"])
    return files


def environment(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """The container's plain environment: its ConfigMaps' entries, then its own `value`s, and the pod-index
    label through the downward API as Kubernetes fills it for the StatefulSet's first pod (0)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= find("ConfigMap", source["configMapRef"]["name"])["data"]
    env |= {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    pod_index = "metadata.labels['apps.kubernetes.io/pod-index']"
    env |= {
        item["name"]: "0"
        for item in container.get("env", [])
        if item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == pod_index
    }
    return env


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def kafka_properties() -> dict[str, str]:
    return properties(find("ConfigMap", "kafka-config")["data"]["server.properties"])


def cassandra_yaml() -> dict[str, Any]:
    return yaml.safe_load(find("ConfigMap", "cassandra-config")["data"]["cassandra.yaml"])


def local_secured_values() -> dict[str, str]:
    """The local runtime's Kafka and Cassandra settings with ENABLE_SSL=true (stack/security.py)."""
    settings = SimpleNamespace(
        var_dir=Path("/var"), enable_ssl=True, tls_dir=Path("/tls"), kafka_port=9092,
        kafka_controller_port=9097, kafka_bootstrap="127.0.0.1:9092", cassandra_host="127.0.0.1",
        cassandra_port=9042,
    )  # fmt: skip
    passwords = {principal.key: "unused-0123456789" for principal in credentials.PRINCIPALS}
    return security.template_values(settings, passwords)  # type: ignore[arg-type]


# --- schemas, Secrets, literals -----------------------------------------------------------------------
@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize(
    "document",
    [pytest.param(doc, id=f"{name}:{doc['kind']}/{doc['metadata']['name']}") for name, doc in documents()],
)
def test_manifest_validates_against_the_strict_kubernetes_schema(
    document: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(document, version, strict=True)


def test_every_secret_key_the_manifests_read_is_in_the_template() -> None:
    template = template_secrets()
    read = {(name, key) for pod in workloads().values() for name, key in secret_references(pod)}

    missing = sorted((name, key) for name, key in read if key not in template.get(name, set()))
    unread = sorted((name, key) for name, keys in template.items() for key in keys if (name, key) not in read)
    assert missing == []
    assert unread == []


def test_every_principal_has_a_password_secret_in_the_template() -> None:
    template = template_secrets()

    assert set(PASSWORD_SECRETS) == set(credentials.PRINCIPALS)
    assert all(template.get(name) == {"password"} for name in PASSWORD_SECRETS.values())


def test_template_secrets_are_empty_and_not_applied() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    secrets = [doc for _, doc in documents() if doc["kind"] == "Secret"]

    assert "secret.template.yaml" not in kustomization["resources"]
    assert secrets and all(not value for doc in secrets for value in doc.get("stringData", {}).values())
    assert all("data" not in doc for doc in secrets)


@pytest.mark.parametrize("path", sorted(KUBERNETES.glob("*.yaml")), ids=lambda path: path.name)
def test_no_manifest_holds_a_password_key_or_certificate(path: Path) -> None:
    text = path.read_text()

    assert not PEM_OR_KEY.search(text)
    assert [match.group(0) for match in PASSWORD_LITERAL.finditer(text)] == []


def test_no_container_gets_a_secret_as_a_plain_environment_value() -> None:
    for name, pod in workloads().items():
        for container in containers(pod):
            for item in container.get("env", []):
                if re.search(r"PASSWORD|SECRET(?!S_DIR)|API_KEY|TOKEN|JAAS", item["name"]):
                    assert "value" not in item, f"{name}: {item['name']}"
                assert not re.search(r"password\s*=", item.get("value", ""), re.IGNORECASE), (
                    f"{name}: {item['name']}"
                )


def test_every_secret_volume_is_readable_by_its_group_only() -> None:
    for name, pod in workloads().items():
        for volume in pod.get("volumes", []):
            mode = (volume.get("secret") or volume.get("projected") or {}).get("defaultMode")
            if mode is not None and volume["name"] not in {"ca", "tls"}:
                assert mode & 0o007 == 0, f"{name}: volume {volume['name']} is readable by others"
        run_as = pod.get("securityContext", {})
        if any("secret" in v or "projected" in v for v in pod.get("volumes", [])) and run_as.get(
            "runAsNonRoot"
        ):
            assert "fsGroup" in run_as, f"{name}: a non-root user reads Secret files only through fsGroup"


# --- Kafka --------------------------------------------------------------------------------------------
def test_kafka_has_no_plaintext_listener() -> None:
    config = kafka_properties()
    protocols = dict(item.split(":") for item in config["listener.security.protocol.map"].split(","))
    listeners = [entry.split("://")[0] for entry in config["listeners"].split(",")]
    advertised = [entry.split("://")[0] for entry in config["advertised.listeners"].split(",")]

    assert set(protocols.values()) <= {"SSL", "SASL_SSL"}
    assert set(listeners) | set(advertised) <= set(protocols)
    assert protocols[config["controller.listener.names"]] == "SSL"
    assert config["listener.name.controller.ssl.client.auth"] == "required"
    assert protocols[config["inter.broker.listener.name"]] == "SASL_SSL"
    assert "PLAINTEXT" not in find("ConfigMap", "kafka-config")["data"]["server.properties"]


def test_kafka_security_settings_are_the_local_runtimes() -> None:
    local = local_secured_values()
    expected = properties(local["KAFKA_SECURITY"])
    jaas = "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"  # rendered at start-up, from its Secret
    config = kafka_properties()

    assert {k: v for k, v in config.items() if k in expected and not k.endswith(".location")} == {
        k: v for k, v in expected.items() if k != jaas and not k.endswith(".location")
    }
    assert config["listener.security.protocol.map"] == local["KAFKA_LISTENER_PROTOCOLS"]
    assert config["inter.broker.listener.name"] == local["KAFKA_INTER_BROKER_LISTENER"]
    assert config["super.users"] == (
        f"User:CN={pki.KAFKA.common_name};User:{credentials.KAFKA_BROKER.username};"
        f"User:{credentials.KAFKA_ADMIN.username}"
    )
    assert config["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert config["allow.everyone.if.no.acl.found"] == "false"
    assert jaas not in config


def test_kafka_reads_its_tls_files_from_secrets() -> None:
    pod = workloads()["kafka"]
    broker = next(c for c in pod["containers"] if c["name"] == "kafka")
    files = mounted_files(pod, broker)
    config = kafka_properties()

    assert files[config["ssl.keystore.location"]] == ("kafka-keystore", "kafka-keystore.pem")
    assert files[config["ssl.truststore.location"]] == ("kafka-ca", "ca.crt")
    assert (config["ssl.keystore.type"], config["ssl.truststore.type"]) == ("PEM", "PEM")


def _script(config_map: str, key: str, folder: Path) -> Path:
    path = folder / key
    path.write_text(find("ConfigMap", config_map)["data"][key])
    return path


def _recording_tool(path: Path, log: Path) -> None:
    """A stand-in for one of Kafka's tools: logs its argv and the files it was pointed at (as read then)."""
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "files = {}\n"
        "for flag in ('--command-config', '--add-config-file'):\n"
        "    if flag in args:\n"
        "        files[flag] = open(args[args.index(flag) + 1]).read()\n"
        "for arg in args:\n"
        "    if arg.startswith('@'):\n"
        "        files['@'] = open(arg[1:]).read()\n"
        "        files['@mode'] = oct(os.stat(arg[1:]).st_mode & 0o777)\n"
        "        print('Formatting metadata directory /data with metadata.version 4.3-IV0.')\n"
        "        print('SCRAM credential salt=c2VjcmV0 storedKey=...')\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    record = {'tool': os.path.basename(sys.argv[0]), 'argv': args, 'files': files}\n"
        "    out.write(json.dumps(record) + '\\n')\n"
    )
    path.chmod(0o755)


@pytest.fixture
def kafka_tools(tmp_path: Path) -> SimpleNamespace:
    """KAFKA_HOME with recording tools, a password folder of the four users, and the log of calls."""
    home, passwords, log = tmp_path / "kafka", tmp_path / "passwords", tmp_path / "calls.jsonl"
    (home / "bin").mkdir(parents=True)
    for tool in ("kafka-run-class.sh", "kafka-configs.sh", "kafka-acls.sh"):
        _recording_tool(home / "bin" / tool, log)
    passwords.mkdir()
    for user, password in FAKE_PASSWORDS.items():
        (passwords / user).write_text(password + "\n")
    return SimpleNamespace(home=home, passwords=passwords, log=log, folder=tmp_path)


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert BASH, "bash runs the manifests' scripts"
    return subprocess.run(
        [BASH, str(script)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def _run_format_storage(kafka_tools: SimpleNamespace) -> tuple[subprocess.CompletedProcess[str], Path]:
    template = kafka_tools.folder / "server.properties"
    template.write_text(find("ConfigMap", "kafka-config")["data"]["server.properties"])
    rendered = kafka_tools.folder / "run" / "server.properties"
    result = _run(
        _script("kafka-config", "format-storage.sh", kafka_tools.folder),
        {
            "CLUSTER_ID": "gSu3Krh8QHyq_F4AqbkDRA",
            "KAFKA_HOME": str(kafka_tools.home),
            "KAFKA_PASSWORDS_DIR": str(kafka_tools.passwords),
            "KAFKA_CONFIG_TEMPLATE": str(template),
            "KAFKA_RENDERED_CONFIG": str(rendered),
        },
    )
    return result, rendered


def test_kafka_init_renders_the_broker_login_and_formats_with_the_first_scram_users(
    kafka_tools: SimpleNamespace,
) -> None:
    result, rendered = _run_format_storage(kafka_tools)
    (call,) = calls(kafka_tools.log)
    arguments = call["files"]["@"].splitlines()

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Formatting metadata directory /data with metadata.version 4.3-IV0."
    assert rendered.stat().st_mode & 0o777 == 0o600
    login = properties(rendered.read_text())["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert login == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{credentials.KAFKA_BROKER.username}" password="{FAKE_PASSWORDS["broker"]}";'
    )
    assert call["files"]["@mode"] == "0o600" and not list(rendered.parent.glob("*.args"))
    assert arguments[:7] == [
        "kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", "gSu3Krh8QHyq_F4AqbkDRA", "-c",
        str(rendered),
    ]  # fmt: skip
    scram = [arguments[i + 1] for i, arg in enumerate(arguments) if arg == "--add-scram"]
    assert scram == [
        f"SCRAM-SHA-512=[name={p.username},iterations={kafka_security.SCRAM_ITERATIONS},"
        f"password={FAKE_PASSWORDS[p.username]}]"
        for p in kafka_security.FORMATTED_USERS
    ]
    assert not any(password in " ".join(call["argv"]) for password in FAKE_PASSWORDS.values())


def test_kafka_init_refuses_a_password_a_jaas_line_cannot_hold(kafka_tools: SimpleNamespace) -> None:
    (kafka_tools.passwords / "broker").write_text('0123456789"abcdef')

    result, rendered = _run_format_storage(kafka_tools)

    assert result.returncode == 2
    assert f"{kafka_tools.passwords / 'broker'}: needs 16 or more" in result.stderr
    assert "0123456789" not in result.stderr + result.stdout
    assert calls(kafka_tools.log) == [] and not rendered.exists()


def _acl_bindings(argv: list[str]) -> set[tuple[str, str, str, str, str]]:
    """(principal, resource type, name, pattern type, operation) of one `kafka-acls --add` call."""
    principal = argv[argv.index("--allow-principal") + 1]
    operations = [argv[i + 1].upper() for i, arg in enumerate(argv) if arg == "--operation"]
    pattern = (
        argv[argv.index("--resource-pattern-type") + 1].upper()
        if "--resource-pattern-type" in argv
        else "LITERAL"
    )
    resources = [
        (arg[2:].upper(), argv[i + 1]) for i, arg in enumerate(argv) if arg in {"--topic", "--group"}
    ]
    return {(principal, kind, name, pattern, op) for kind, name in resources for op in operations}


def _name(value: object) -> str:
    """An enum member's name (confluent-kafka types AclBinding's fields as enum, str or int)."""
    return str(getattr(value, "name", value))


def test_kafka_security_job_creates_the_local_runtimes_users_and_acls(kafka_tools: SimpleNamespace) -> None:
    job = workloads()["kafka-security"]["containers"][0]
    env = environment(workloads()["kafka-security"], job)
    result = _run(
        _script("kafka-security", "kafka-security.sh", kafka_tools.folder),
        {
            "KAFKA_HOME": str(kafka_tools.home),
            "KAFKA_PASSWORDS_DIR": str(kafka_tools.passwords),
            "KAFKA_CA_FILE": "/etc/kafka/ca/ca.crt",
            "KAFKA_SECURITY_WORK_DIR": str(kafka_tools.folder),
            "KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
            "SCRAM_USERS": env["SCRAM_USERS"],
        },
    )
    made = calls(kafka_tools.log)
    users = [c["argv"][c["argv"].index("--entity-name") + 1] for c in made if c["tool"] == "kafka-configs.sh"]
    acls = set().union(*(_acl_bindings(c["argv"]) for c in made if c["tool"] == "kafka-acls.sh"))
    expected = {
        (b.principal, _name(b.restype), b.name, _name(b.resource_pattern_type), _name(b.operation))
        for b in kafka_security.pipeline_acls()
    }

    assert result.returncode == 0, result.stderr
    assert users == [principal.username for principal in kafka_security.CLIENT_USERS]
    assert acls == expected
    assert (
        env["KAFKA_BOOTSTRAP_SERVERS"]
        == find("ConfigMap", "pipeline-config")["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    )
    for call in made:
        admin = properties(call["files"]["--command-config"])
        assert admin["security.protocol"] == "SASL_SSL" and admin["sasl.mechanism"] == "SCRAM-SHA-512"
        assert f'username="admin" password="{FAKE_PASSWORDS["admin"]}"' in admin["sasl.jaas.config"]
        assert not any(password in " ".join(call["argv"]) for password in FAKE_PASSWORDS.values())
    for user, call in zip(users, (c for c in made if c["tool"] == "kafka-configs.sh"), strict=True):
        assert call["files"]["--add-config-file"] == (
            f"SCRAM-SHA-512=iterations={kafka_security.SCRAM_ITERATIONS},password={FAKE_PASSWORDS[user]}\n"
        )
    assert sorted(p.name for p in kafka_tools.folder.glob("*.properties")) == []


def test_kafka_security_job_reads_each_password_from_its_principals_secret() -> None:
    pods = workloads()
    by_file = {
        **mounted_files(pods["kafka"], pods["kafka"]["initContainers"][0]),
        **mounted_files(pods["kafka-security"], pods["kafka-security"]["containers"][0]),
    }
    principals = {p.username: p for p in (*kafka_security.FORMATTED_USERS, *kafka_security.CLIENT_USERS)}

    for user, principal in principals.items():
        assert by_file[f"/etc/kafka/passwords/{user}"] == (PASSWORD_SECRETS[principal], "password")


# --- Cassandra ----------------------------------------------------------------------------------------
def test_cassandra_security_settings_are_the_local_runtimes() -> None:
    local = local_secured_values()
    config = cassandra_yaml()
    encryption = yaml.safe_load(local["CASSANDRA_CLIENT_ENCRYPTION"])
    pod = workloads()["cassandra"]
    files = mounted_files(pod, pod["containers"][0])

    assert config["authenticator"] == local["CASSANDRA_AUTHENTICATOR"] == "PasswordAuthenticator"
    assert config["authorizer"] == local["CASSANDRA_AUTHORIZER"] == "CassandraAuthorizer"
    paths = {"keystore", "truststore"}
    assert {k: v for k, v in config["client_encryption_options"].items() if k not in paths} == {
        k: v for k, v in encryption.items() if k not in paths
    }
    assert config["client_encryption_options"]["enabled"] is True
    assert config["client_encryption_options"]["optional"] is False
    assert files[config["client_encryption_options"]["truststore"]] == ("cassandra-ca", "ca.crt")
    assert config["client_encryption_options"]["keystore"].endswith("/cassandra-keystore.pem")
    assert (
        "-Dcassandra.config=file:///etc/cassandra-pipeline/cassandra.yaml"
        in environment(pod, pod["containers"][0])["JVM_EXTRA_OPTS"]
    )


def test_cassandra_grants_are_the_local_runtimes() -> None:
    text = find("ConfigMap", "cassandra-security")["data"]["grants"]
    grants = {
        words[0]: tuple(words[1:])
        for words in (line.split("#", 1)[0].split() for line in text.splitlines())
        if words
    }

    assert grants == {principal.username: rights for principal, rights in cassandra_security.GRANTS.items()}


def test_cassandra_security_job_reads_each_password_from_its_roles_secret() -> None:
    pod = workloads()["cassandra-security"]
    files = mounted_files(pod, pod["containers"][0])
    roles = {
        f"/etc/cassandra-roles/{p.username}": p
        for p in (credentials.CASSANDRA_ADMIN, *cassandra_security.GRANTS)
    }

    assert {path: files[path] for path in roles} == {
        path: (PASSWORD_SECRETS[p], "password") for path, p in roles.items()
    }


def _cassandra_security_module(tmp_path: Path) -> ModuleType:
    path = _script("cassandra-security", "cassandra_security.py", tmp_path)
    spec = importlib.util.spec_from_file_location("kubernetes_cassandra_security", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeCassandra:
    """Roles and their passwords as a node keeps them, and every statement executed, with its values."""

    def __init__(self, roles: dict[str, str], keyspaces: set[str]) -> None:
        self.roles = dict(roles)
        self.keyspaces = keyspaces
        self.statements: list[tuple[str, str, tuple[Any, ...]]] = []

    def session(self, connection: Any) -> Any:
        if self.roles.get(connection.username) != connection.password or connection.username is None:
            raise NoHostAvailable("refused", {"node": AuthenticationFailed("Bad credentials")})
        user = connection.username

        def execute(query: str, values: tuple[Any, ...] = ()) -> Any:
            self.statements.append((user, query, tuple(values)))
            row: Any = None
            if query.startswith("SELECT is_superuser") and "cassandra" in self.roles:
                active = self.roles["cassandra"] == "cassandra"  # the default superuser, not yet disabled
                row = SimpleNamespace(is_superuser=active, can_login=active)
            elif query.startswith("SELECT role") and values[0] in self.roles:
                row = SimpleNamespace(role=values[0])
            elif query.startswith("SELECT keyspace_name") and values[0] in self.keyspaces:
                row = SimpleNamespace(keyspace_name=values[0])
            elif query.startswith(("CREATE ROLE", "ALTER ROLE")):
                self.roles[query.split()[5 if "IF NOT EXISTS" in query else 2]] = values[0]
            return SimpleNamespace(one=lambda: row)

        return SimpleNamespace(execute=execute, cluster=SimpleNamespace(shutdown=lambda: None))


@pytest.fixture
def run_cassandra_security(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeCassandra], int]:
    passwords = tmp_path / "roles"
    passwords.mkdir()
    for principal in (credentials.CASSANDRA_ADMIN, *cassandra_security.GRANTS):
        (passwords / principal.username).write_text(f"{principal.username}-0123456789\n")
    grants = tmp_path / "grants"
    grants.write_text(find("ConfigMap", "cassandra-security")["data"]["grants"])
    module = _cassandra_security_module(tmp_path)
    driver_log = logging.getLogger("cassandra")
    monkeypatch.setattr(driver_log, "level", driver_log.level)  # the script quiets the driver's log
    monkeypatch.setattr(module, "PASSWORDS_DIR", passwords)
    monkeypatch.setattr(module, "GRANTS_FILE", grants)
    monkeypatch.setenv("CASSANDRA_HOSTS", "cassandra-0.cassandra.finnhub-pipeline.svc.cluster.local")

    def run(node: FakeCassandra) -> int:
        monkeypatch.setattr(module, "cassandra_session", node.session)
        return int(module.main())

    return run


def test_cassandra_security_job_replaces_the_default_superuser_and_grants_as_the_local_runtime(
    run_cassandra_security: Callable[[FakeCassandra], int],
) -> None:
    node = FakeCassandra({"cassandra": "cassandra"}, keyspaces={contracts.KEYSPACE})

    status = run_cassandra_security(node)
    by_user = {user for user, _, _ in node.statements}
    grants = {(w[1], w[4], w[6]) for w in (q.split() for _, q, _ in node.statements) if w[0] == "GRANT"}
    expected = {
        (permission, contracts.KEYSPACE, principal.username)
        for principal, permissions in cassandra_security.GRANTS.items()
        for permission in permissions
    }

    assert status == 0
    assert by_user == {"cassandra", credentials.CASSANDRA_ADMIN.username}
    assert [q for u, q, _ in node.statements if u == "cassandra"] == [
        f"CREATE ROLE IF NOT EXISTS {credentials.CASSANDRA_ADMIN.username} "
        "WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = %s"
    ]
    assert any(
        q.startswith("ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false")
        for _, q, _ in node.statements
    )
    assert set(node.roles) == {"cassandra", credentials.CASSANDRA_ADMIN.username} | {
        p.username for p in cassandra_security.GRANTS
    }
    assert node.roles["cassandra"] != "cassandra"
    assert grants == expected
    assert not any("0123456789" in query for _, query, _ in node.statements)


def test_cassandra_security_job_run_again_changes_only_a_changed_password(
    run_cassandra_security: Callable[[FakeCassandra], int],
) -> None:
    writer, reader = credentials.CASSANDRA_WRITER.username, credentials.CASSANDRA_READER.username
    admin = credentials.CASSANDRA_ADMIN.username
    node = FakeCassandra(
        {
            "cassandra": "random",
            admin: f"{admin}-0123456789",
            writer: "old-password",
            reader: f"{reader}-0123456789",
        },
        keyspaces={contracts.KEYSPACE},
    )

    status = run_cassandra_security(node)
    changes = [q.split()[:3] for _, q, _ in node.statements if q.startswith(("CREATE", "ALTER"))]

    assert status == 0
    assert changes == [["ALTER", "ROLE", writer]]
    assert node.roles[writer] == f"{writer}-0123456789"


@pytest.mark.skipif(OPENSSL is None or BASH is None, reason="openssl and bash issue Cassandra's certificate")
def test_cassandra_node_certificate_is_issued_for_the_pods_address(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    ca.mkdir()
    subprocess.run(
        [str(OPENSSL), "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-nodes",
         "-subj", "/CN=test node CA", "-keyout", str(ca / "ca.key"), "-out", str(ca / "ca.crt"),
         "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        check=True, capture_output=True,
    )  # fmt: skip
    out = tmp_path / "tls"
    out.mkdir()
    result = _run(
        _script("cassandra-config", "issue-certificate.sh", tmp_path),
        {
            "POD_IP": "127.0.0.1",
            "POD_NAME": "cassandra-0",
            "POD_NAMESPACE": "finnhub-pipeline",
            "CASSANDRA_CA_FILE": str(ca / "ca.crt"),
            "CASSANDRA_CA_KEY_FILE": str(ca / "ca.key"),
            "CASSANDRA_TLS_DIR": str(out),
            "CASSANDRA_TLS_OWNER": f"{os.getuid()}:{os.getgid()}",
        },
    )
    keystore = out / "cassandra-keystore.pem"

    assert result.returncode == 0, result.stderr
    assert keystore.stat().st_mode & 0o777 == 0o600
    assert "BEGIN PRIVATE KEY" in keystore.read_text()  # unencrypted PKCS#8: what Java 17 reads
    assert _handshake(keystore, ca / "ca.crt", "127.0.0.1") == "verified"
    assert (
        _handshake(keystore, ca / "ca.crt", "cassandra-0.cassandra.finnhub-pipeline.svc.cluster.local")
        == "verified"
    )
    assert _handshake(keystore, ca / "ca.crt", "10.0.0.7") == "refused"


def _handshake(keystore: Path, ca: Path, server_name: str) -> str:
    """Whether a client that trusts `ca` accepts the keystore's certificate for `server_name` (as the Python
    driver checks a node: against the address it connected to)."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(keystore)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept() -> None:
            connection, _ = listener.accept()
            try:
                server.wrap_socket(connection, server_side=True).close()
            except (ssl.SSLError, OSError):
                connection.close()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        client = ssl.create_default_context(cafile=str(ca))
        try:
            with client.wrap_socket(
                socket.create_connection(listener.getsockname()), server_hostname=server_name
            ):
                return "verified"
        except ssl.SSLCertVerificationError:
            return "refused"
        finally:
            thread.join(5)


def test_cassandra_ca_key_reaches_only_the_certificate_init_container() -> None:
    readers = [
        (name, container["name"])
        for name, pod in workloads().items()
        for container in containers(pod)
        if ("cassandra-ca-key", "ca.key") in mounted_files(pod, container).values()
    ]

    assert readers == [("cassandra", "issue-certificate")]


# --- the producer and the Spark job -------------------------------------------------------------------
CLIENTS: dict[str, tuple[type[PipelineSettings], Principal, Principal | None]] = {
    "finnhub-producer": (ProducerSettings, credentials.KAFKA_PRODUCER, None),
    "spark-stream": (StreamSettings, credentials.KAFKA_SPARK, credentials.CASSANDRA_WRITER),
}


def _client(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = workloads()[name]
    return pod, pod["containers"][0]


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_client_gets_only_settings_and_secret_files_its_class_reads(name: str) -> None:
    settings_class, _, _ = CLIENTS[name]
    pod, container = _client(name)
    env = environment(pod, container)
    folder = env[SECRETS_DIR_VARIABLE]
    secret_files = {
        path.removeprefix(folder + "/")
        for path in mounted_files(pod, container)
        if path.startswith(folder + "/")
    }
    entrypoint = {"FINNHUB_API_KEYS", "FINNHUB_SIMULATOR_URL"} if name == "finnhub-producer" else set()
    named = {item["name"] for item in container.get("env", [])}

    assert named - set(settings_class.environment_variables().values()) - entrypoint == {SECRETS_DIR_VARIABLE}
    assert secret_files and secret_files <= {v.lower() for v in settings_class.secret_variables()}


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_client_settings_from_its_pod_connect_secured_as_its_principal(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_class, kafka_principal, cassandra_principal = CLIENTS[name]
    pod, container = _client(name)
    env = environment(pod, container)
    files = mounted_files(pod, container)
    for variable in [v for v in os.environ if v.startswith(("KAFKA_", "CASSANDRA_", "SPARK_", "PRODUCER_"))]:
        monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    by_secret = {secret: principal for principal, secret in PASSWORD_SECRETS.items()}
    for path, (secret, _) in files.items():
        if path.startswith(env[SECRETS_DIR_VARIABLE] + "/"):
            (secrets_dir / Path(path).name).write_text(f"{by_secret[secret].key}-password\n")
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(secrets_dir))

    settings: Any = settings_class.load()
    kafka = settings.kafka_connection()

    assert kafka.secured and kafka.username == kafka_principal.username
    assert kafka.password == f"{kafka_principal.key}-password"
    assert files[kafka.ca_location] == ("kafka-ca", "ca.crt")
    if cassandra_principal is not None:
        cassandra = settings.cassandra_connection()
        assert cassandra.username == cassandra_principal.username
        assert cassandra.password == f"{cassandra_principal.key}-password"
        assert files[cassandra.ca_certs] == ("cassandra-ca", "ca.crt")


def test_client_principals_are_the_ones_the_acls_and_grants_name() -> None:
    acl_principals = {binding.principal for binding in kafka_security.pipeline_acls()}
    granted: set[Principal] = set(cassandra_security.GRANTS)

    assert {f"User:{kafka.username}" for _, kafka, _ in CLIENTS.values()} == acl_principals
    assert {cassandra for _, _, cassandra in CLIENTS.values() if cassandra} <= granted


# --- kubernetes/README.md -----------------------------------------------------------------------------
def _readme_secret_commands() -> str:
    text = (KUBERNETES / "README.md").read_text()
    section = text[text.index("### Secrets") :]
    return section[
        section.index("```bash\n") + len("```bash\n") : section.index("\n```", section.index("```bash"))
    ]


@pytest.mark.skipif(OPENSSL is None or BASH is None, reason="the README's commands need openssl and bash")
def test_readme_commands_create_every_template_secret_with_usable_values(tmp_path: Path) -> None:
    """The README's block, with kubectl replaced by a recorder: every Secret of the template, with its keys,
    a Kafka keystore Kafka can use, and passwords the scripts accept."""
    bin_dir, log = tmp_path / "bin", tmp_path / "kubectl.jsonl"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "values = {}\n"
        "for arg in args:\n"
        "    if arg.startswith('--from-file='):\n"
        "        key, path = arg.split('=', 2)[1:]\n"
        "        values[key] = open(path).read()\n"
        "    elif arg.startswith('--from-literal='):\n"
        "        key, value = arg.split('=', 2)[1:]\n"
        "        values[key] = value\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    out.write(json.dumps({'args': args, 'values': values}) + '\\n')\n"
    )
    kubectl.chmod(0o755)
    work = tmp_path / "pki"
    work.mkdir()
    result = subprocess.run(
        [str(BASH), "-c", _readme_secret_commands()],
        cwd=work, env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "FINNHUB_API_KEYS": "k0,k1,k2"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    created = {
        entry["args"][entry["args"].index("generic") + 1]: entry["values"]
        for entry in map(json.loads, log.read_text().splitlines())
        if "generic" in entry["args"]
    }

    assert result.returncode == 0, result.stderr
    assert {name: set(values) for name, values in created.items()} == template_secrets()
    for name in PASSWORD_SECRETS.values():
        assert re.fullmatch(r"[A-Za-z0-9._~-]{16,}", created[name]["password"]), name
    assert len({created[name]["password"] for name in PASSWORD_SECRETS.values()}) == len(PASSWORD_SECRETS)
    keystore = created["kafka-keystore"]["kafka-keystore.pem"]
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----") and keystore.count("BEGIN CERTIFICATE") == 2
    certificate = subprocess.run(
        [str(OPENSSL), "x509", "-noout", "-subject", "-ext", "subjectAltName"],
        input=keystore, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    broker_host = kafka_properties()["advertised.listeners"].split("://")[1].rsplit(":", 1)[0]
    assert f"CN = {pki.KAFKA.common_name}" in certificate and f"DNS:{broker_host}" in certificate
    assert created["cassandra-ca-key"]["ca.key"].startswith("-----BEGIN PRIVATE KEY-----")
