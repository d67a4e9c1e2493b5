"""docker-compose's monitoring agrees with itself and with the local runtime: Prometheus scrapes the ports the
compose services listen on, under the local job names; Alertmanager gets the rendered routes, Slack from a
secret file, and a reachable alert log; the runbook base reaches Prometheus' external labels."""

from __future__ import annotations

import re
from typing import Any

import yaml

from services import contracts
from stack import alerting
from stack.settings import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKER_PROMETHEUS = yaml.safe_load((ROOT / "deploy" / "docker" / "prometheus.yml").read_text())
LOCAL_PROMETHEUS = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())


def _targets(config: dict[str, Any]) -> dict[str, list[str]]:
    """job -> its host:port targets (DNS service discovery as name:port; a `${...}` placeholder that the
    local runtime fills with the whole list, as itself)."""
    found: dict[str, list[str]] = {}
    for job in config["scrape_configs"]:
        statics = job.get("static_configs", [])
        if isinstance(statics, str):
            statics = [{"targets": [statics]}]
        targets = [t for static in statics for t in static["targets"]]
        targets += [f"{n}:{dns['port']}" for dns in job.get("dns_sd_configs", []) for n in dns["names"]]
        found[job["job_name"]] = targets
    return found


def _listening_port(job: str) -> tuple[str, int]:
    """(compose service, the port it serves that job's metrics on), read from the service's definition."""
    if job == "prometheus":
        return "prometheus", 9090
    if job == "alertmanager":
        return "alertmanager", int(SERVICES["alertmanager"]["ports"][0].rsplit(":", 1)[1])
    if job == "kafka":
        agent = SERVICES["kafka"]["environment"]["KAFKA_OPTS"]
        return "kafka", int(re.search(r"\.jar=(\d+):", agent)[1])  # type: ignore[index]
    if job == "cassandra":
        agent = SERVICES["cassandra"]["environment"]["JVM_EXTRA_OPTS"]
        return "cassandra", int(re.search(r"\.jar=(\d+):", agent)[1])  # type: ignore[index]
    if job == "statsd-exporter":
        flag = next(c for c in SERVICES["statsd-exporter"]["command"] if c.startswith("--web.listen-address"))
        return "statsd-exporter", int(flag.rsplit(":", 1)[1])
    if job == "producer":
        return "finnhub-producer", int(SERVICES["finnhub-producer"]["environment"]["PRODUCER_METRICS_PORT"])
    if job == "spark_stream":
        # The driver runs in the scheduler container (client mode), on the job's default metrics port.
        return SERVICES["airflow-scheduler"]["hostname"], contracts.SPARK_METRICS_PORT
    raise AssertionError(f"no compose service known for job {job}")


def test_compose_and_local_prometheus_scrape_the_same_jobs_one_target_set_each() -> None:
    docker, local = _targets(DOCKER_PROMETHEUS), _targets(LOCAL_PROMETHEUS)

    assert set(docker) == set(local)
    assert all(len(targets) == 1 for targets in docker.values()), docker


def test_compose_prometheus_scrapes_the_port_each_service_serves() -> None:
    for job, (target,) in _targets(DOCKER_PROMETHEUS).items():
        service, port = _listening_port(job)
        host = "127.0.0.1" if job == "prometheus" else service
        assert target == f"{host}:{port}", job


def test_compose_prometheus_alerts_the_compose_alertmanager() -> None:
    (manager,) = DOCKER_PROMETHEUS["alerting"]["alertmanagers"]

    assert manager["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_compose_prometheus_expands_the_runbook_base_from_its_environment() -> None:
    prometheus = SERVICES["prometheus"]

    assert DOCKER_PROMETHEUS["global"]["external_labels"]["runbook_base_url"] == "${RUNBOOK_BASE_URL}"
    assert "--enable-feature=expand-external-labels" in prometheus["command"]
    assert prometheus["environment"]["RUNBOOK_BASE_URL"].startswith("${RUNBOOK_BASE_URL:-")


def test_compose_alertmanager_mounts_the_rendered_configs_and_the_slack_template() -> None:
    mounts = {
        v.split(":")[1]: v.split(":")[0] for v in SERVICES["alertmanager"]["volumes"] if v.startswith("./")
    }

    for name in alerting.COMPOSE_FILES:
        assert mounts[f"/etc/alertmanager/{name}"] == f"./deploy/docker/alertmanager/{name}"
    assert mounts["/etc/alertmanager/slack.tmpl"] == "./monitoring/alertmanager/slack.tmpl"


def test_compose_alertmanager_uses_slack_exactly_when_the_secret_file_is_not_empty() -> None:
    alertmanager = SERVICES["alertmanager"]
    script = alertmanager["command"][0]
    slack = yaml.safe_load((alerting.COMPOSE_DIR / "alertmanager-slack.yml").read_text())

    assert alertmanager["secrets"] == ["slack_webhook_url"]
    assert COMPOSE["secrets"]["slack_webhook_url"] == {"environment": "SLACK_WEBHOOK_URL"}
    assert f"[ -s {alerting.COMPOSE_SLACK_URL_FILE} ]" in script
    assert "config=/etc/alertmanager/alertmanager-slack.yml" in script
    assert slack["receivers"][0]["slack_configs"][0]["api_url_file"] == alerting.COMPOSE_SLACK_URL_FILE


def test_compose_alert_log_runs_the_receiver_where_alertmanager_posts() -> None:
    alert_log = SERVICES["alert-log"]
    command = alert_log["command"]
    port = command[command.index("--port") + 1]

    assert f"http://alert-log:{port}{alerting.ALERT_LOG_PATH}" == alerting.COMPOSE_ALERT_LOG_URL
    assert "./deploy/local/stack/alert_log.py:/opt/alert_log.py:ro" in alert_log["volumes"]
    assert command[:2] == ["python", "/opt/alert_log.py"]
