"""Where a benchmark's CPU goes: each group's CPU-seconds over the window as cores, the rest as `other`, the
cost of a row; one snapshot taken of this test's own busy process."""

from __future__ import annotations

import psutil
import pytest

from benchmarks.cpu_use import OTHER, CpuMeter, Snapshot, cpu_use, describe, mean_use, used_seconds


def test_a_process_new_in_the_window_counts_whole_and_a_reused_pid_is_a_new_process() -> None:
    before = {(10, 1.0): 5.0, (11, 1.0): 2.0}
    after = {(10, 1.0): 6.5, (11, 9.0): 0.5, (12, 3.0): 1.0}  # 11 exited and its pid was reused

    assert used_seconds(before, after) == 1.5 + 0.5 + 1.0


def test_cores_are_cpu_seconds_over_the_window_and_the_rest_is_other() -> None:
    before = Snapshot(100.0, 1_000.0, {"cassandra": {(1, 0.0): 50.0}, "spark job": {(2, 0.0): 10.0}})
    after = Snapshot(110.0, 1_018.0, {"cassandra": {(1, 0.0): 58.0}, "spark job": {(2, 0.0): 17.0}})

    use = cpu_use(before, after, rows=100_000)

    assert use.machine_cores == pytest.approx(1.8)
    assert use.cores == pytest.approx({"cassandra": 0.8, "spark job": 0.7, OTHER: 0.3})
    assert use.per_row_us() == {"machine": 180.0, "cassandra": 80.0, "spark job": 70.0, OTHER: 30.0}


def test_windows_together_weigh_each_by_its_length() -> None:
    short = cpu_use(Snapshot(0, 0, {"a": {}}), Snapshot(1, 2.0, {"a": {(1, 0.0): 1.0}}), rows=10)
    long = cpu_use(Snapshot(0, 0, {"a": {}}), Snapshot(3, 3.0, {"a": {(1, 0.0): 0.0}}), rows=30)

    together = mean_use([short, long])

    assert (together.seconds, together.rows) == (4, 40)
    assert together.machine_cores == pytest.approx(5.0 / 4)
    assert together.cores["a"] == pytest.approx(1.0 / 4)
    assert together.per_row_us()["machine"] == pytest.approx(5.0 / 40 * 1e6)


def test_the_line_names_every_group_and_the_cost_of_a_row() -> None:
    use = cpu_use(Snapshot(0, 0, {"cassandra": {}}), Snapshot(2, 3.0, {"cassandra": {(1, 0.0): 2.0}}), 20_000)

    assert describe(use.as_json()) == (
        "1.50 cores busy (cassandra 1.00, other 0.50); 150 CPU-µs a row: cassandra 100, other 50"
    )


def test_the_meter_sees_this_process_spend_cpu() -> None:
    meter = CpuMeter({"tests": [psutil.Process()]})
    meter.start()
    total = 0
    for number in range(3_000_000):  # ~0.1 s of CPU
        total += number

    use = meter.stop(rows=1)

    cpu_seconds = use.cores["tests"] * use.seconds  # however loaded the machine: the loop's own CPU time
    assert cpu_seconds > 0.03
    assert use.machine_cores * use.seconds >= cpu_seconds * 0.9
