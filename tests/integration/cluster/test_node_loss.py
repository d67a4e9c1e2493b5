"""The cluster survives the loss of any one node (issue 12): a Kafka broker killed, a Cassandra node stopped,
a Spark worker killed, each mid-stream and brought back later. After each, over the window of the stream
around the fault, per symbol: trades the simulator sent = records in Kafka = rows of trades_v2, and every
bar equals `compute_bar` of its minute's stored trades (`testkit.window.compare_window`)."""

from __future__ import annotations

import os
import time

from cassandra import ConsistencyLevel  # type: ignore[attr-defined]

from stack import tools
from testkit.window import compare_window, quiesce, resume, wait_until_committed

from .conftest import ClusterRuntime, kill9_and_hold

STREAM_S = 20
"""Seconds of stream before and after each fault."""
COMMIT_TIMEOUT_S = 600


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def fault_window(
    cluster: ClusterRuntime,
    session: object,
    program: str,
    down_s: float,
    **compare: object,
) -> None:
    settings = cluster.settings
    before = quiesce(settings)
    resume(settings)
    time.sleep(STREAM_S)
    pid = kill9_and_hold(cluster, program)
    print(f"kill -9 {program} (pid {pid}), down for {down_s:.0f} s; load {load()}")
    time.sleep(down_s)
    started = cluster.supervisor.ctl("start", program)
    assert started.returncode == 0, started.stdout + started.stderr
    time.sleep(STREAM_S)
    after = quiesce(settings)
    took = wait_until_committed(settings, after, COMMIT_TIMEOUT_S)
    report = compare_window(settings, session, before, after, **compare)  # type: ignore[arg-type]
    resume(settings)
    print(f"{program}: {report.summary()}; committed {took:.0f} s after the window; load {load()}")
    assert report.differences == [], report.differences
    assert sum(report.sent.values()) > 0


def test_a_kill_9_broker_loses_and_doubles_nothing(cluster: ClusterRuntime, cluster_session: object) -> None:
    fault_window(cluster, cluster_session, "kafka-2", down_s=30)


def test_a_stopped_cassandra_node_is_repaired_and_a_read_at_all_has_every_row(
    cluster: ClusterRuntime, cluster_session: object
) -> None:
    settings = cluster.settings
    before = quiesce(settings)
    resume(settings)
    time.sleep(STREAM_S)
    stopped = cluster.supervisor.ctl("stop", "cassandra-3")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    print(f"stopped cassandra-3 for 60 s; load {load()}")
    time.sleep(60)  # writes go on at LOCAL_QUORUM on the other two
    started = cluster.supervisor.ctl("start", "cassandra-3")
    assert started.returncode == 0, started.stdout + started.stderr
    time.sleep(STREAM_S)
    after = quiesce(settings)
    wait_until_committed(settings, after, COMMIT_TIMEOUT_S)
    # Hints replay on their own; a repair of the node makes it certain before the read at ALL.
    repaired = tools.nodetool(settings, "repair", "--full", "trading", node=3)
    print(f"nodetool repair on node 3: {repaired[-1:] if repaired else 'ok'}; load {load()}")
    report = compare_window(settings, cluster_session, before, after, consistency=ConsistencyLevel.ALL)
    resume(settings)
    print(f"cassandra-3: {report.summary()}")
    assert report.differences == [], report.differences


def test_a_kill_9_spark_worker_has_its_tasks_run_again_on_the_other(
    cluster: ClusterRuntime, cluster_session: object
) -> None:
    fault_window(cluster, cluster_session, "spark-worker-2", down_s=30)
