"""bench-curve's decisions: when a step falls behind, the capacity and its crossing, the step's JSON (pure;
the curve itself runs live against the stack's job)."""

from __future__ import annotations

import argparse
import math
from typing import Any

import pytest

from benchmarks import bench_curve
from benchmarks.bench_curve import (
    JobPosition,
    Step,
    capacity,
    falls_behind,
    parse_rates,
)
from testkit.stream import LoadRun, ProbeTimes


def step(
    offered: int = 1_000,
    sent: int | None = None,
    arrived: int | None = None,
    committed: int | None = None,
    p99: float | None = 0.5,
    missing: int = 0,
    lag_start: int = 1_000,
) -> Step:
    """A 60 s measured step: by default the load sent its rate and the job committed all that arrived."""
    sent = offered * 60 if sent is None else sent
    arrived = sent if arrived is None else arrived
    committed = arrived if committed is None else committed
    lag_end = lag_start + arrived - committed
    start = JobPosition(at=100.0, end_offset=10_000, lag=lag_start)
    end = JobPosition(at=160.0, end_offset=10_000 + arrived, lag=lag_end)
    row = {"p50_s": 0.3, "p99_s": p99, "max_s": 2.0, "missing": missing}
    bar = {"p50_s": 0.4, "p99_s": 1.2, "max_s": 2.5, "missing": 0}
    return Step(offered, sent, 60.0, start, end, 600, row, bar, "1.00 1.00 1.00")


def curve_step(offered: int, p99: float | None, behind: bool = False) -> dict[str, Any]:
    """A step as curve.json holds it (only what the capacity reads)."""
    return {
        "offered_trades_per_s": offered,
        "row": {"p99_s": p99},
        "falls_behind": ["the job committed less"] if behind else [],
    }


def test_a_job_that_commits_what_arrives_keeps_up() -> None:
    assert falls_behind(step()) == []


def test_a_job_committing_under_90_percent_of_what_arrived_falls_behind() -> None:
    reasons = falls_behind(step(arrived=60_000, committed=50_000, lag_start=1_000))

    assert len(reasons) == 1
    assert "50,000 of 60,000" in reasons[0]
    assert "from 1,000 to 11,000" in reasons[0]  # its lag grew through the step


def test_records_of_the_stacks_producer_count_as_arrived() -> None:
    # the load sent 60,000 and the producer 6,000: 60,000 committed is 91 % of what arrived, 59,000 is 89 %
    assert falls_behind(step(sent=60_000, arrived=66_000, committed=60_000)) == []
    assert falls_behind(step(sent=60_000, arrived=66_000, committed=59_000)) != []


def test_a_rate_the_load_could_not_produce_stops_the_curve() -> None:
    reasons = falls_behind(step(offered=20_000, sent=900_000))  # 15,000/s of 20,000 asked

    assert reasons == ["the load produced only 15,000 of 20,000 trades/s: this machine cannot offer more"]


def test_over_1_percent_of_probes_without_a_row_falls_behind() -> None:
    assert falls_behind(step(missing=6)) == []
    assert falls_behind(step(missing=7)) == ["7 of 600 probes had no row after the drain"]


def test_the_step_json_holds_offered_achieved_lag_and_latency() -> None:
    as_json = step(sent=60_000, arrived=66_000, committed=63_000).as_json()

    assert as_json["offered_trades_per_s"] == 1_000
    assert as_json["sent_trades_per_s"] == 1_000
    assert as_json["producer_records_per_s"] == 100
    assert as_json["achieved_records_per_s"] == 1_050
    assert (as_json["lag_at_start"], as_json["lag_at_end"]) == (1_000, 4_000)
    assert as_json["row"]["p99_s"] == 0.5
    assert as_json["bar"]["p99_s"] == 1.2
    assert as_json["falls_behind"] == []
    assert set(as_json) >= {"probes", "load_average", "seconds", "arrived_records", "committed_records"}


def test_capacity_is_the_last_rate_under_1_s_and_the_crossing_is_interpolated_on_log_rate() -> None:
    steps = [curve_step(100, 0.4), curve_step(1_000, 0.5), curve_step(10_000, 1.5), curve_step(20_000, 3.0)]

    result = capacity(steps)

    assert result["capacity_trades_per_s"] == 1_000
    assert result["crossed_between"] == [1_000, 10_000]
    # halfway from 0.5 s to 1.5 s: halfway between 1,000 and 10,000 on a log axis
    assert result["crossing_trades_per_s"] == round(math.sqrt(1_000 * 10_000))
    assert "1,000 trades/s" in result["statement"]


def test_a_rate_under_1_s_after_the_first_miss_does_not_count() -> None:
    steps = [curve_step(100, 0.4), curve_step(300, 1.2), curve_step(1_000, 0.9)]

    assert capacity(steps)["capacity_trades_per_s"] == 100


def test_a_step_that_fell_behind_does_not_count_even_under_1_s() -> None:
    steps = [curve_step(100, 0.4), curve_step(300, 0.6, behind=True)]

    result = capacity(steps)

    assert result["capacity_trades_per_s"] == 100
    assert result["crossing_trades_per_s"] is None
    assert "fell behind at 300" in result["statement"]


def test_too_many_unseen_probes_cross_without_an_interpolation() -> None:
    result = capacity([curve_step(100, 0.4), curve_step(300, None)])

    assert result["capacity_trades_per_s"] == 100
    assert result["crossed_between"] == [100, 300]
    assert result["crossing_trades_per_s"] is None


def test_every_step_under_1_s_gives_a_lower_bound() -> None:
    result = capacity([curve_step(100, 0.4), curve_step(300, 0.5)])

    assert result["capacity_trades_per_s"] == 300
    assert result["statement"].startswith("at least 300 trades/s")


def test_no_capacity_when_the_lowest_rate_misses() -> None:
    result = capacity([curve_step(100, 1.4)])

    assert result["capacity_trades_per_s"] is None
    assert "at the lowest rate" in result["statement"]


def test_rates_parse_ascending_and_positive() -> None:
    assert parse_rates("100,300,1_000") == [100, 300, 1_000]
    for bad in ("300,100", "0,100", "a,b", "", "100,100"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_rates(bad)


class RecordedLoad:
    """SteadyLoad's part measure_step uses: each run recorded, every trade produced at once."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, float, str]] = []

    def run(self, rate: int, seconds: float, id_prefix: str) -> LoadRun:
        self.runs.append((rate, seconds, id_prefix))
        return LoadRun(id_prefix, round(rate * seconds), max(1, rate // 10))

    def flush(self) -> None:
        pass


class RecordedProbes:
    """Probes' part measure_step uses: a warm-up probe and two measured ones, by trade id."""

    def __init__(self) -> None:
        self.waited_for: list[str] = []
        self.sent = {
            "c-r100-w-0": ProbeTimes(0.0, 9.0, 9.0),
            "c-r100-m-0": ProbeTimes(10.0, 10.5, 11.0),
            "c-r100-m-10": ProbeTimes(11.0, 11.25, None),
        }

    def wait(self, timeout_s: float, prefix: str = "") -> None:
        self.waited_for.append(prefix)

    def times(self, prefix: str = "") -> list[ProbeTimes]:
        return [times for trade_id, times in self.sent.items() if trade_id.startswith(prefix)]


def test_a_step_warms_up_then_measures_its_own_probes_and_the_jobs_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    positions = iter([JobPosition(0.0, 1_000, 50), JobPosition(60.0, 7_300, 80)])
    monkeypatch.setattr(bench_curve, "job_position", lambda settings: next(positions))
    load, probes = RecordedLoad(), RecordedProbes()
    args = argparse.Namespace(warmup_seconds=15.0, step_seconds=60.0, drain_seconds=120.0)

    measured = bench_curve.measure_step(
        None,  # type: ignore[arg-type]  # only job_position reads it, replaced here
        load,  # type: ignore[arg-type]
        probes,  # type: ignore[arg-type]
        100,
        "c-r100",
        args,
    ).as_json()

    assert load.runs == [(100, 15.0, "c-r100-w"), (100, 60.0, "c-r100-m")]
    assert probes.waited_for == ["c-r100-"]
    assert measured["probes"] == 2  # the warm-up's probe is not measured
    assert measured["row"] == {"p50_s": 0.5, "p99_s": 0.5, "max_s": 0.5, "missing": 0}
    assert measured["bar"]["missing"] == 1
    assert measured["sent_trades"] == 6_000
    assert (measured["arrived_records"], measured["committed_records"]) == (6_300, 6_270)
    assert measured["producer_records_per_s"] == 5
    assert measured["falls_behind"] == []
