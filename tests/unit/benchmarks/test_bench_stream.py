"""bench-stream's placements of the job and its throughput figures (pure; the benchmark itself runs live)."""

from __future__ import annotations

import pytest

from benchmarks.bench_stream import Placement, check_round_size, placements, throughput_result
from stack.settings import RuntimeSettings


def test_single_runs_the_job_in_local_mode_into_keyspaces_of_one_replica() -> None:
    assert placements(RuntimeSettings(topology="single")) == [Placement("job")]


def test_a_cluster_runs_the_job_on_one_worker_then_on_every_worker() -> None:
    settings = RuntimeSettings(
        topology="cluster",
        kafka_replication_factor=3,
        cassandra_replication_factor=3,
        spark_executor_memory="768m",
    )

    one, both = placements(settings)

    assert (one.name, both.name) == ("job on 1 worker", "job on 2 workers")
    assert one.master == both.master == "spark://127.0.0.1:7077"
    assert one.options[:2] == ("--conf", "spark.cores.max=1")
    assert both.options[:2] == ("--conf", "spark.cores.max=2")
    assert both.options[2:] == ("--executor-cores", "1", "--executor-memory", "768m")
    assert one.replication_factor == both.replication_factor == 3


def test_a_cluster_run_reports_each_placement_and_every_worker_over_one() -> None:
    rates = {"job on 1 worker": [1_000.0, 1_200.0, 1_100.0], "job on 2 workers": [1_500.0, 1_650.0, 1_700.0]}

    result = throughput_result(10, 2, {}, rates, [20_000.0, 22_000.0, 21_000.0], ["1 1 1"] * 3, 1_000.0)

    assert result["job_trades_per_s"] == 1_650  # every worker's: the deployed job
    assert result["ratio"] == round(1_650 / 21_000, 3)
    assert result["placements"]["job on 1 worker"]["trades_per_s"] == 1_100
    assert result["scaling"] == round(1_650 / 1_100, 3)


def test_a_single_node_run_keeps_its_figures_and_has_no_scaling() -> None:
    result = throughput_result(10, 2, {}, {"job": [4_000.0]}, [26_000.0], ["1 1 1"], 1_250.0)

    assert result["job_trades_per_s"] == 4_000
    assert "placements" not in result and "scaling" not in result


def test_a_round_must_fill_the_job_s_untimed_first_batch_and_two_more() -> None:
    check_round_size(360_000, {})  # three batches of the deployed 120,000
    check_round_size(60_000, {"SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER": "20000"})
    with pytest.raises(SystemExit, match=r"--trades 100,000 is fewer than 3 of the job's batches"):
        check_round_size(100_000, {})
