"""Producer replicas never duplicate trades: in docker-compose (`--scale finnhub-producer=N`) each replica
shards by its container number or refuses; a replica started without its index while several run refuses;
the no-key path reads the simulator; and each compose service gets only the environment it reads."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values

from services.configuration import ConfigError
from services.layout import ROOT
from services.producer.settings import ProducerSettings
from services.producer.symbols import parse_symbols, symbol_shard

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
EXAMPLE = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
SYMBOLS = ",".join(f"S{i}" for i in range(10))


def _load_entrypoint() -> Any:
    spec = importlib.util.spec_from_file_location(
        "producer_entrypoint", ROOT / "deploy" / "docker" / "producer_entrypoint.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ENTRYPOINT = _load_entrypoint()


def entrypoint() -> Any:
    return ENTRYPOINT


def interpolate(value: str, dotenv: dict[str, str]) -> str:
    """Compose's `${NAME}` / `${NAME:-default}` against a .env file (the part of its syntax used here)."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return dotenv.get(name) or default

    return re.sub(r"\$\{([A-Z0-9_]+)(:-([^}]*))?\}", one, value)


def compose_environment(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    return {k: interpolate(str(v), dotenv) for k, v in SERVICES[service]["environment"].items()}


def replica(env: dict[str, str], number: int) -> dict[str, str]:
    """The environment compose's replica `number` (1-based, as in its container name) ends up with."""
    name = f"finnhub-pipeline-finnhub-producer-{number}.finnhub-pipeline_default"
    resolved: dict[str, str] = entrypoint().replica_environment(env, container_name=lambda: name)
    return resolved


def producer_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ProducerSettings:
    """The producer's settings from `env`; the mounted secrets folder (Kafka's principal) is left out: the
    container's, not this machine's."""
    for name in [*ProducerSettings.environment_variables().values(), "PIPELINE_SECRETS_DIR"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name != "PIPELINE_SECRETS_DIR":
            monkeypatch.setenv(name, value)
    return ProducerSettings.load()


def test_scaling_to_three_without_a_replica_count_runs_one_replica_and_refuses_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = compose_environment("finnhub-producer", EXAMPLE)
    module = entrypoint()

    first = producer_settings(replica(env, 1), monkeypatch)
    assert (first.producer_replica_index, first.producer_replica_count) == (0, 1)
    for number in (2, 3):
        with pytest.raises(module.ReplicaConfigError) as refused:
            replica(env, number)
        message = str(refused.value)
        assert "\n" not in message and "PRODUCER_REPLICA_COUNT=1" in message, message


def test_scaling_to_three_with_a_count_of_three_shards_the_symbols_disjointly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = compose_environment(
        "finnhub-producer", {**EXAMPLE, "PRODUCER_REPLICA_COUNT": "3", "SYMBOLS": SYMBOLS}
    )

    shares = []
    for number in (1, 2, 3):
        settings = producer_settings(replica(env, number), monkeypatch)
        assert settings.producer_replica_index == number - 1
        shares.append(
            symbol_shard(settings.symbols, settings.producer_replica_index, settings.producer_replica_count)
        )
    assert sorted(s for share in shares for s in share) == sorted(parse_symbols(SYMBOLS))
    assert all(shares)


def test_a_lone_container_without_an_ordinal_is_replica_zero_but_one_of_several_refuses() -> None:
    module = entrypoint()
    docker_run = "3f2a9c1b7d4e"  # `docker run` names have no -<n>

    assert module.replica_environment({}, container_name=lambda: docker_run)["PRODUCER_REPLICA_INDEX"] == "0"
    with pytest.raises(module.ReplicaConfigError, match="PRODUCER_REPLICA_INDEX is not set"):
        module.replica_environment({"PRODUCER_REPLICA_COUNT": "2"}, container_name=lambda: docker_run)


def test_a_replica_without_its_index_refuses_to_start_when_several_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError) as refused:
        producer_settings({"PRODUCER_REPLICA_COUNT": "2", "SYMBOLS": SYMBOLS}, monkeypatch)

    assert str(refused.value).startswith("PRODUCER_REPLICA_INDEX is not set while PRODUCER_REPLICA_COUNT=2")
    assert "\n" not in str(refused.value)
    assert producer_settings({"SYMBOLS": SYMBOLS}, monkeypatch).producer_replica_index == 0


def test_the_keyless_compose_path_reads_the_simulator_not_finnhub(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EXAMPLE["FINNHUB_WS_URL"] == "wss://ws.finnhub.io"  # .env.example's: the endpoint for a key
    env = compose_environment("finnhub-producer", EXAMPLE)

    settings = producer_settings(replica(env, 1), monkeypatch)

    assert settings.finnhub_api_key is None
    assert settings.ws_url == "ws://simulator:8765"


def test_with_a_key_the_compose_producer_reads_finnhub(monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose_environment("finnhub-producer", {**EXAMPLE, "FINNHUB_API_KEY": "abc123"})

    settings = producer_settings(replica(env, 1), monkeypatch)

    assert settings.ws_url == "wss://ws.finnhub.io"


AIRFLOW_SECRETS = (
    "AIRFLOW_POSTGRES_PASSWORD",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_JWT_SECRET",
    "SLACK_WEBHOOK_URL",
)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_service_gets_dotenv_as_a_whole_or_a_secret_it_does_not_use(service: str) -> None:
    definition = SERVICES[service]
    environment = yaml.safe_dump(definition.get("environment", {}))
    airflow = str(definition.get("image", "")).startswith("finnhub-pipeline/airflow")

    assert "env_file" not in definition
    for secret in AIRFLOW_SECRETS:
        if secret == "AIRFLOW_POSTGRES_PASSWORD" and service == "postgres":
            continue
        if not airflow:
            assert secret not in environment, f"{service} gets {secret}"
    assert "SLACK_WEBHOOK_URL" not in environment  # Alertmanager reads it as a secret file


def test_the_producers_environment_is_what_the_producer_and_its_entrypoint_read() -> None:
    env = compose_environment("finnhub-producer", EXAMPLE)
    read = set(ProducerSettings.environment_variables().values())
    read |= {"FINNHUB_API_KEYS", "FINNHUB_SIMULATOR_URL", "PIPELINE_SECRETS_DIR"}

    assert set(env) <= read
    assert {"SYMBOLS", "PRODUCER_REPLICA_COUNT", "FINNHUB_API_KEY", "FINNHUB_API_KEYS"} <= set(env)
    assert not [name for name in env if name.startswith(("AIRFLOW", "POSTGRES", "GRAFANA"))]


def test_example_env_and_compose_agree_on_the_default_symbols() -> None:
    env = compose_environment("finnhub-producer", {})

    assert env["SYMBOLS"] == EXAMPLE["SYMBOLS"]
    assert Path(ROOT / "deploy" / "docker" / "producer_entrypoint.py").exists()
