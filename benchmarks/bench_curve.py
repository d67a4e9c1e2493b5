"""`make bench-curve`: latency and throughput of the stack's own Spark job (the one Airflow runs) as the
offered rate steps up, and its capacity: the highest offered rate whose row latency p99 stays under 1 s.

Each step (`--rates`, trades/s; 100, 300, 1,000, 3,000, 10,000, 20,000) produces trades at its rate into the
stack's `trades` topic, as the producer writes them (`testkit.stream.SteadyLoad`): `--warmup-seconds` (15),
then `--step-seconds` (60) measured. Over the measured part: ten probe trades a second timed from produced to
row readable in trading.trades_v2 and to the minute's bar reflecting it (`testkit.stream.Probes`, polled every
50 ms); the records the job committed per second (its checkpoint, as `make kafka-lag` reads it) against the
records that reached the topic (the load and whatever the stack's producer adds); the job's Kafka lag at the
start and the end; the load average. Stepping stops when the job falls behind: it committed less than 90 % of
what reached the topic (its lag grew by more than 10 % of it), or over 1 % of the probes had no row after
`--drain-seconds`; or when this machine could not produce the rate at all.

The load's trades are rows of the stack's keyspace like any other (symbol PROBE and ten ordinary symbols,
trade ids `curve<Unix time>-r<rate>-...`), kept for the tables' TTL: it runs only on a stack fed by the
simulator, never beside a live Finnhub feed, whose real symbols' bars they would enter. Results: printed,
var/bench/curve.json and var/bench/curve.png (latency against offered rate, throughput on a second axis).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.figures import load_average, probe_latency
from benchmarks.plots import curve_plot
from services import contracts
from services.cassandra_session import cassandra_session
from stack.lag import stream_lag
from stack.settings import RuntimeSettings
from testkit.runtime import require_stream_job, running_settings
from testkit.stream import Probes, SteadyLoad
from testkit.waiting import eventually

PROGRAM = "bench-curve"
RATES = (100, 300, 1_000, 3_000, 10_000, 20_000)
LATENCY_GOAL_S = 1.0
"""The row latency p99 a rate must stay under to count towards the capacity."""
KEEP_UP_FRACTION = 0.9
"""A step keeps up when the job committed at least this share of the records that reached the topic, and
the load produced at least this share of the rate asked."""
MISSING_PROBES_ALLOWED = 0.01
"""More probes than this share without a row after the drain: the job fell behind."""
CAUGHT_UP_LAG = 5_000
"""Records the job may be behind when the curve starts (a backlog would be measured as latency)."""


@dataclass(frozen=True)
class JobPosition:
    """The stack's job against its topic at one moment: the records the topic holds, the job's lag."""

    at: float  # time.monotonic()
    end_offset: int
    lag: int

    @property
    def committed(self) -> int:
        return self.end_offset - self.lag


@dataclass(frozen=True)
class Step:
    """One measured rate: what was offered and sent, what the job committed, what the probes saw."""

    offered: int
    """trades/s asked of the load"""
    sent: int
    """trades the load produced in the measured part"""
    send_seconds: float
    start: JobPosition
    end: JobPosition
    """taken before and after the measured part (after every record sent was delivered)"""
    probes: int
    row: dict[str, Any]
    bar: dict[str, Any]
    load_average: str

    @property
    def seconds(self) -> float:
        return self.end.at - self.start.at

    @property
    def sent_per_s(self) -> float:
        return self.sent / max(self.send_seconds, 1e-9)

    @property
    def arrived(self) -> int:
        """Records that reached the topic over the measured part: the load's and the stack producer's."""
        return self.end.end_offset - self.start.end_offset

    @property
    def committed(self) -> int:
        return self.end.committed - self.start.committed

    @property
    def achieved_per_s(self) -> float:
        """Records the job committed per second (the load's and the stack producer's)."""
        return self.committed / self.seconds

    @property
    def others_per_s(self) -> float:
        """Records per second the stack's own producer added beside the load."""
        return max(0, self.arrived - self.sent) / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "offered_trades_per_s": self.offered,
            "sent_trades_per_s": round(self.sent_per_s),
            "sent_trades": self.sent,
            "producer_records_per_s": round(self.others_per_s),
            "arrived_records": self.arrived,
            "committed_records": self.committed,
            "achieved_records_per_s": round(self.achieved_per_s),
            "seconds": round(self.seconds, 3),
            "lag_at_start": self.start.lag,
            "lag_at_end": self.end.lag,
            "probes": self.probes,
            "row": self.row,
            "bar": self.bar,
            "load_average": self.load_average,
            "falls_behind": falls_behind(self),
        }


def falls_behind(step: Step) -> list[str]:
    """Why the job (or the load) could not sustain the step's rate; empty when it could."""
    reasons = []
    if step.sent_per_s < KEEP_UP_FRACTION * step.offered:
        reasons.append(
            f"the load produced only {step.sent_per_s:,.0f} of {step.offered:,} trades/s: this machine "
            "cannot offer more"
        )
    if step.committed < KEEP_UP_FRACTION * step.arrived:
        reasons.append(
            f"the job committed {step.committed:,} of {step.arrived:,} records that arrived "
            f"({step.committed / step.arrived:.0%}); its lag grew from {step.start.lag:,} to {step.end.lag:,}"
        )
    if step.row["missing"] > MISSING_PROBES_ALLOWED * step.probes:
        reasons.append(f"{step.row['missing']} of {step.probes} probes had no row after the drain")
    return reasons


def qualifies(step: dict[str, Any]) -> bool:
    """A step (as in curve.json) counts towards the capacity: row p99 under the goal, and it kept up."""
    p99 = step["row"]["p99_s"]
    return p99 is not None and p99 < LATENCY_GOAL_S and not step["falls_behind"]


def capacity(steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The highest offered rate before the first step that misses the goal (p99 ≥ 1 s, or fell behind), and
    where p99 crosses 1 s: interpolated on log rate between the last step under it and the first over it."""
    result: dict[str, Any] = {
        "latency_goal_s": LATENCY_GOAL_S,
        "capacity_trades_per_s": None,
        "crossing_trades_per_s": None,
        "crossed_between": None,
    }
    if not steps:
        return result | {"statement": "none measured"}
    under = list(itertools.takewhile(qualifies, steps))
    if len(under) == len(steps):
        top = steps[-1]
        return result | {
            "capacity_trades_per_s": top["offered_trades_per_s"],
            "statement": (
                f"at least {top['offered_trades_per_s']:,} trades/s: row p99 stayed under "
                f"{LATENCY_GOAL_S:g} s at every step ({top['row']['p99_s']} s at the highest)"
            ),
        }
    miss = steps[len(under)]
    miss_rate, miss_p99 = miss["offered_trades_per_s"], miss["row"]["p99_s"]
    if not under:
        shown = "no p99 (over 1 % of the probes unseen)" if miss_p99 is None else f"row p99 {miss_p99} s"
        behind = " and the job fell behind" if miss["falls_behind"] else ""
        return result | {"statement": f"none: at the lowest rate, {miss_rate:,} trades/s, {shown}{behind}"}
    rate, p99 = under[-1]["offered_trades_per_s"], under[-1]["row"]["p99_s"]
    result |= {"capacity_trades_per_s": rate, "crossed_between": [rate, miss_rate]}
    if miss_p99 is not None and miss_p99 >= LATENCY_GOAL_S:
        share = (LATENCY_GOAL_S - p99) / (miss_p99 - p99)
        crossing = math.exp(math.log(rate) + share * (math.log(miss_rate) - math.log(rate)))
        result["crossing_trades_per_s"] = round(crossing)
        where = (
            f"p99 crosses {LATENCY_GOAL_S:g} s near {crossing:,.0f} trades/s (interpolated on log rate "
            f"between {rate:,} at {p99} s and {miss_rate:,} at {miss_p99} s)"
        )
    elif miss_p99 is None:
        where = (
            f"p99 crosses {LATENCY_GOAL_S:g} s between {rate:,} and {miss_rate:,} trades/s (over 1 % of the "
            f"probes unseen at {miss_rate:,})"
        )
    else:
        where = (
            f"the job fell behind at {miss_rate:,} trades/s with row p99 still {miss_p99} s: its limit lies "
            f"between {rate:,} and {miss_rate:,}"
        )
    return result | {"statement": f"{rate:,} trades/s (row p99 {p99} s); {where}"}


def parse_rates(text: str) -> list[int]:
    """`100,300,1000`: ascending positive rates."""
    try:
        rates = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not rates or any(rate <= 0 for rate in rates) or rates != sorted(set(rates)):
        raise argparse.ArgumentTypeError(f"rates must be positive and ascending: {text!r}")
    return rates


# --- the live part ------------------------------------------------------------------------------------------
def job_position(settings: RuntimeSettings) -> JobPosition:
    report = stream_lag(settings.checkpoint_dir, settings.kafka_connection(), contracts.TRADES_TOPIC)
    if report is None:
        raise SystemExit(
            f"{PROGRAM}: the stack's Spark job has no committed batch in {settings.checkpoint_dir} yet "
            "(make status, make logs-spark)"
        )
    return JobPosition(time.monotonic(), report.total_end_offset, report.total_lag)


def measure_step(
    settings: RuntimeSettings,
    load: SteadyLoad,
    probes: Probes,
    rate: int,
    prefix: str,
    args: argparse.Namespace,
) -> Step:
    load.run(rate, args.warmup_seconds, f"{prefix}-w")
    start = job_position(settings)
    started = time.monotonic()
    run = load.run(rate, args.step_seconds, f"{prefix}-m")
    send_seconds = time.monotonic() - started
    load.flush()
    end = job_position(settings)
    load_now = load_average()
    probes.wait(args.drain_seconds, f"{prefix}-")
    measured = probes.times(f"{prefix}-m-")
    latency = probe_latency(measured)
    return Step(
        rate, run.trades, send_seconds, start, end, len(measured), latency["row"], latency["bar"], load_now
    )


def describe(step: dict[str, Any]) -> str:
    row, bar = step["row"], step["bar"]
    return (
        f"{step['offered_trades_per_s']:>7,} trades/s offered ({step['sent_trades_per_s']:,} sent, "
        f"{step['producer_records_per_s']:,}/s from the stack's producer): job committed "
        f"{step['achieved_records_per_s']:,} records/s, lag {step['lag_at_start']:,} → "
        f"{step['lag_at_end']:,}; "
        f"row p50 {row['p50_s']} s, p99 {row['p99_s']} s, max {row['max_s']} s; bar p99 {bar['p99_s']} s "
        f"({step['probes']} probes, {row['missing']} rows unseen); load average {step['load_average']}"
    )


def wait_caught_up(settings: RuntimeSettings, timeout_s: float) -> int:
    """Waits until the job is at most CAUGHT_UP_LAG records behind; its lag then."""
    try:
        eventually(
            lambda: job_position(settings).lag <= CAUGHT_UP_LAG,
            timeout_s,
            interval_s=2,
            what=f"the stack's Spark job within {CAUGHT_UP_LAG:,} records of the topic's end",
        )
    except AssertionError as error:
        raise SystemExit(f"{PROGRAM}: {error} (make kafka-lag)") from None
    return job_position(settings).lag


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        type=parse_rates,
        default=list(RATES),
        help=f"trades/s, ascending, comma-separated (default {','.join(map(str, RATES))})",
    )
    parser.add_argument("--warmup-seconds", type=float, default=15, help="each step's load before measuring")
    parser.add_argument("--step-seconds", type=float, default=60, help="each step's measured seconds")
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=180,
        help="after each step, the longest wait for its probes' rows and bars (unseen ones count as slowest)",
    )
    args = parser.parse_args()
    settings = running_settings(PROGRAM)
    if not settings.uses_simulator:
        raise SystemExit(
            f"{PROGRAM}: the stack streams live Finnhub trades (FINNHUB_API_KEY is set): the curve's "
            "synthetic trades of real symbols would land in their real bars; run it on the simulator"
        )
    require_stream_job(settings, PROGRAM)
    lag = wait_caught_up(settings, args.drain_seconds)
    name = f"curve{int(time.time())}"
    print(
        f"{PROGRAM}: the stack's Spark job, {lag:,} records behind; steps {args.rates} trades/s, "
        f"{args.warmup_seconds:g} s warm-up + {args.step_seconds:g} s each (load average {load_average()})",
        flush=True,
    )
    session = cassandra_session(settings.cassandra_connection())
    steps: list[dict[str, Any]] = []
    stopped = None
    try:
        with Probes(session, contracts.KEYSPACE) as probes:
            load = SteadyLoad(settings.kafka_connection(), contracts.TRADES_TOPIC, probes)
            for rate in args.rates:
                steps.append(measure_step(settings, load, probes, rate, f"{name}-r{rate}", args).as_json())
                print(describe(steps[-1]), flush=True)
                if steps[-1]["falls_behind"]:
                    stopped = f"stopped after {rate:,} trades/s: " + "; ".join(steps[-1]["falls_behind"])
                    print(stopped, flush=True)
                    break
    except KeyboardInterrupt:  # the steps measured so far are still written, plotted and summed up
        stopped = f"interrupted (Ctrl-C) with {len(steps)} steps measured"
        print(f"\n{stopped}", flush=True)
    finally:
        session.cluster.shutdown()
    lag_after = job_position(settings).lag
    result = {
        "job": "the stack's (stream_supervisor)",
        "rates_planned": args.rates,
        "warmup_seconds": args.warmup_seconds,
        "step_seconds": args.step_seconds,
        "drain_seconds": args.drain_seconds,
        "steps": steps,
        "stopped": stopped,
        "lag_after": lag_after,
        "capacity": capacity(steps),
        "load_average_after": load_average(),
    }
    out = settings.var_dir / "bench" / "curve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot = out.with_name("curve.png")
    curve_plot(result, plot)
    print(f"capacity (row p99 < {LATENCY_GOAL_S:g} s): {result['capacity']['statement']}")
    if stopped is None and steps:
        print(f"the job kept up at every step, up to {steps[-1]['offered_trades_per_s']:,} trades/s")
    print(f"job lag now {lag_after:,} records (make kafka-lag); written to {out} and {plot}")


if __name__ == "__main__":
    main()
