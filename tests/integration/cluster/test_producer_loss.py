"""A producer replica killed mid-stream (issue 12): its share of the symbols stops, the stack's Prometheus
fires ProducerDown naming that replica, the other replica's symbols stream on untouched, and once the
replica is back its symbols resume. Over the window: per symbol, sent = Kafka = trades_v2, every bar exact;
the killed replica's symbols may miss only the trades it had received and not yet produced."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter

from services.producer.symbols import symbol_shard
from stack.settings import RuntimeSettings
from testkit.waiting import eventually
from testkit.window import compare_window, quiesce, resume, sent_so_far, wait_until_committed

from .conftest import ClusterRuntime, kill9_and_hold
from .test_node_loss import COMMIT_TIMEOUT_S, STREAM_S, load

KILLED = 1
"""PRODUCER_REPLICA_INDEX of the replica killed; its program is producer-1."""
IN_FLIGHT = 200
"""Trades of the killed replica's symbols that may be lost with it: received from the WebSocket, not yet
acknowledged by Kafka (at 40 trades/s, five seconds of its share)."""
ALERT_TIMEOUT_S = 180
"""ProducerDown waits 1 minute (`for: 1m`) after a failed scrape (every 15 s), evaluated every 15 s."""


def firing_producer_down(settings: RuntimeSettings) -> list[dict[str, str]]:
    """The labels of every firing ProducerDown alert of the stack's own Prometheus."""
    url = f"http://127.0.0.1:{settings.prometheus_port}/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=10) as response:
        alerts = json.load(response)["data"]["alerts"]
    return [
        alert["labels"]
        for alert in alerts
        if alert["labels"].get("alertname") == "ProducerDown" and alert["state"] == "firing"
    ]


def test_a_kill_9_producer_replica_stops_only_its_symbols_is_named_by_an_alert_and_resumes(
    cluster: ClusterRuntime, cluster_session: object
) -> None:
    settings = cluster.settings
    program = f"producer-{KILLED}"
    symbols = [s.strip() for s in settings.symbols.split(",") if s.strip()]
    replicas = int(settings.producer_replicas or 1)
    assert replicas >= 2, "the cluster runs one producer replica: nothing to compare its loss with"
    killed = set(symbol_shard(symbols, KILLED, replicas))
    others = set(symbols) - killed
    assert killed and others

    before = quiesce(settings)
    resume(settings)
    time.sleep(STREAM_S)
    pid = kill9_and_hold(cluster, program)
    print(f"kill -9 {program} (pid {pid}, symbols {sorted(killed)}); load {load()}")
    time.sleep(5)  # what it had in flight is lost or delivered by now
    down_from = sent_so_far(settings)

    def named() -> list[dict[str, str]]:
        return [labels for labels in firing_producer_down(settings) if labels.get("replica") == program]

    eventually(named, ALERT_TIMEOUT_S, interval_s=5, what=f"ProducerDown firing for replica {program}")
    alerted = named()
    down_to = sent_so_far(settings)
    started = cluster.supervisor.ctl("start", program)
    assert started.returncode == 0, started.stdout + started.stderr
    time.sleep(STREAM_S)
    after = quiesce(settings)
    wait_until_committed(settings, after, COMMIT_TIMEOUT_S)
    report = compare_window(
        settings, cluster_session, before, after, lost_allowed=dict.fromkeys(killed, IN_FLIGHT)
    )
    resume(settings)

    while_down = Counter({s: down_to[s] - down_from[s] for s in symbols})
    resumed = Counter({s: after.sent[s] - down_to[s] for s in symbols})
    print(
        f"{program}: {report.summary()}; while it was down: {dict(while_down)}; alert {alerted[0]}; "
        f"load {load()}"
    )
    # Only the killed replica's symbols stopped, and ProducerDown named that replica.
    assert all(while_down[s] == 0 for s in killed), while_down
    assert all(while_down[s] > 0 for s in others), while_down
    assert {labels["instance"] for labels in alerted} == {settings.producer_metrics_targets[KILLED]}
    # Its symbols resumed once it was back, and nothing else was lost or doubled anywhere.
    assert all(resumed[s] > 0 for s in killed), resumed
    assert report.differences == [], report.differences
