"""The nodes each engine runs as in the chosen TOPOLOGY: program names, addresses, ports, folders and roles.

TOPOLOGY=single keeps one program per engine under its usual name (`kafka`, `cassandra`, `producer`);
TOPOLOGY=cluster runs kafka-1..3 and cassandra-1..3 on 127.0.0.1-3, spark-master and spark-worker-1..N, and
producer-0..N-1 (PRODUCER_REPLICAS). `render` writes one program file per node from its engine's template,
`engines` probes each node, `tools` formats each broker's storage; this module only describes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .settings import LOCALHOST, RuntimeSettings

KAFKA, CASSANDRA, SPARK_MASTER, SPARK_WORKER, PRODUCER = (
    "kafka",
    "cassandra",
    "spark-master",
    "spark-worker",
    "producer",
)
"""The program templates (deploy/local/programs/<name>.conf) that run as one program per node."""


@dataclass(frozen=True)
class Node:
    """One process of an engine: a supervisor program with its own address, folders and log."""

    engine: str  # its program template in deploy/local/programs/
    program: str  # its supervisor program, and its log file var/log/<program>.log
    number: int  # 1-based (Kafka's node.id; a producer's replica index + 1)
    host: str
    role: str  # one word or a few joined by '+' (the `make status` column)
    run_dir: Path  # its rendered configuration
    data_dir: Path | None  # its state (None: it keeps none)

    @property
    def index(self) -> int:
        """0-based: a producer's PRODUCER_REPLICA_INDEX."""
        return self.number - 1


def _named(settings: RuntimeSettings, engine: str, count: int, number: int, first: int = 1) -> str:
    """`engine` alone for the one node of TOPOLOGY=single, else `engine-<n>` (n from `first`)."""
    return engine if count == 1 and not settings.cluster else f"{engine}-{number - 1 + first}"


def kafka_nodes(settings: RuntimeSettings) -> tuple[Node, ...]:
    run = settings.var_dir / "run"
    count = len(settings.kafka_hosts)
    nodes = []
    for number, host in enumerate(settings.kafka_hosts, start=1):
        program = _named(settings, KAFKA, count, number)
        nodes.append(
            Node(
                KAFKA, program, number, host, "broker+controller", run / program, settings.data_dir / program
            )
        )
    return tuple(nodes)


def cassandra_nodes(settings: RuntimeSettings) -> tuple[Node, ...]:
    run = settings.var_dir / "run"
    count = len(settings.cassandra_hosts)
    role = "seed" if settings.cluster else "node"
    nodes = []
    for number, host in enumerate(settings.cassandra_hosts, start=1):
        program = _named(settings, CASSANDRA, count, number)
        nodes.append(Node(CASSANDRA, program, number, host, role, run / program, settings.data_dir / program))
    return tuple(nodes)


def spark_master(settings: RuntimeSettings) -> tuple[Node, ...]:
    if not settings.cluster:
        return ()
    run = settings.var_dir / "run" / "spark"
    return (Node(SPARK_MASTER, SPARK_MASTER, 1, LOCALHOST, "master", run, None),)


def spark_workers(settings: RuntimeSettings) -> tuple[Node, ...]:
    run = settings.var_dir / "run" / "spark"
    return tuple(
        Node(
            SPARK_WORKER,
            f"{SPARK_WORKER}-{number}",
            number,
            LOCALHOST,
            "worker",
            run,
            settings.data_dir / f"{SPARK_WORKER}-{number}",
        )
        for number in range(1, int(settings.spark_workers or 0) + 1)
    )


def producer_replicas(settings: RuntimeSettings) -> tuple[Node, ...]:
    """Replica i (0-based, PRODUCER_REPLICA_INDEX) is program producer-i, or `producer` when it is the only
    one in TOPOLOGY=single."""
    run = settings.var_dir / "run" / "producer"
    count = int(settings.producer_replicas or 1)
    return tuple(
        Node(
            PRODUCER,
            PRODUCER if count == 1 and not settings.cluster else f"{PRODUCER}-{number - 1}",
            number,
            LOCALHOST,
            f"replica-{number - 1}/{count}",
            run,
            None,
        )
        for number in range(1, count + 1)
    )


def nodes(settings: RuntimeSettings, engine: str) -> tuple[Node, ...]:
    """The nodes of a template (`kafka`, `cassandra`, ...); () for one this topology does not run."""
    return {
        KAFKA: kafka_nodes,
        CASSANDRA: cassandra_nodes,
        SPARK_MASTER: spark_master,
        SPARK_WORKER: spark_workers,
        PRODUCER: producer_replicas,
    }[engine](settings)


def kafka_quorum_voters(settings: RuntimeSettings) -> str:
    """controller.quorum.voters: every broker is a voter, `<node.id>@<host>:<controller port>`."""
    return ",".join(
        f"{node.number}@{node.host}:{settings.kafka_controller_port}" for node in kafka_nodes(settings)
    )


def cassandra_seeds(settings: RuntimeSettings) -> str:
    """Every node is a seed (see cassandra.yaml)."""
    return ",".join(f"{host}:{settings.cassandra_storage_port}" for host in settings.cassandra_hosts)
