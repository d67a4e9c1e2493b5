"""Memory samples of a small stack for the soak's tests: Kafka, and Airflow's scheduler holding the Spark
job's tree."""

from __future__ import annotations

from benchmarks.stack_memory import MIB, MemorySample, Tree


def sample(
    at_s: float, kafka_mib: int = 1_000, scheduler_mib: int = 1_500, kafka_pid: int = 10
) -> MemorySample:
    """Kafka, and Airflow's scheduler holding the Spark job's tree (pid 21 of its family); the scheduler's
    family shares 300 MiB (counted in the RSS of each member, divided in their PSS)."""
    return MemorySample(
        at_s,
        {
            "kafka": Tree(kafka_pid, kafka_mib * MIB, kafka_mib * MIB, frozenset({kafka_pid})),
            "airflow-scheduler": Tree(
                20, scheduler_mib * MIB, (scheduler_mib - 300) * MIB, frozenset({20, 21, 22})
            ),
        },
        Tree(21, 1_200 * MIB, 1_000 * MIB, frozenset({21, 22})),
    )


def soak_samples(end_kafka_mib: int = 1_050, minutes: int = 30) -> list[MemorySample]:
    samples = [sample(at) for at in range(0, minutes * 60, 10)]
    return [*samples, sample(minutes * 60, kafka_mib=end_kafka_mib)]
