"""`make soak MINUTES=30`: the running stack under a steady 1,000 trades/s for MINUTES, its memory sampled
throughout, then checked for exactness; a verdict.

Load: trades produced straight into the stack's `trades` topic as the producer writes them
(`testkit.stream.SteadyLoad`, `--rate`), beside the stack's own simulator → producer stream, through the
stack's own Spark job (the one Airflow runs) into trading.trades_v2 and trade_aggregates.

Memory: every `--sample-seconds` (10), the RSS and the PSS of each supervisord program's process and all its
descendants, summed and named by program: `airflow-scheduler` holds the Spark job its task started
(spark-submit's JVM, the whole job in local mode, and its Python workers; in cluster mode the executors are
`spark-worker`'s). The job's own tree is shown beside it as `spark-job` and counted once in the stack's
total. RSS counts a shared page (a forked child's, a library's, the JVM's code) in every process that maps
it, so the stack's RSS summed overstates what it holds; PSS divides each shared page among its sharers, and
the stack's PSS summed is the memory the stack holds (`benchmarks.stack_memory`).

Verdict, PASS when all hold:
- exact: over the window from a quiet moment before the load to one after it (`testkit.window`), per symbol,
  the trades sent (the simulator's and the load's) = the records in Kafka = the rows of trades_v2 (none lost,
  none twice), and every touched minute's bar = `compute_bar` of its stored trades;
- no program (nor the Spark job) restarted;
- each one's RSS grew at most 10 % from the sample at minute 5 to the last (with MINUTES < 6: not applicable);
- the whole stack's memory (PSS summed) stayed at or under 6 GiB at every sample; its RSS summed is shown.
Results: printed, var/bench/soak.json and var/bench/soak-rss.png.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.figures import load_average
from benchmarks.plots import rss_plot
from benchmarks.stack_memory import GIB, MIB, SPARK_JOB, Growth, MemorySample, Sampler, growth, peak, restarts
from services import contracts
from services.cassandra_session import cassandra_session
from testkit.runtime import require_stream_job, running_settings, stack_supervisor
from testkit.stream import LoadRun, SteadyLoad
from testkit.window import WindowReport, compare_window, quiesce, resume, wait_until_committed

PROGRAM = "soak"
COMMIT_TIMEOUT_S = 900


@dataclass(frozen=True)
class Limits:
    growth_from_s: float = 300
    """The growth is measured from the first sample at or after this many seconds of load."""
    growth: float = 0.10
    stack_bytes: int = 6 * GIB
    growth_min_minutes: float = 6
    """Shorter runs leave under a minute after the growth's starting sample: the check does not apply."""


def growth_not_applicable(minutes: float, samples: Sequence[MemorySample], limits: Limits) -> str | None:
    """Why the growth check does not apply to this run; None when it does."""
    if minutes < limits.growth_min_minutes:
        return (
            f"not applicable: {minutes:g} min < {limits.growth_min_minutes:g} (growth is measured from the "
            f"sample at minute {limits.growth_from_s / 60:g} to the end)"
        )
    if not any(s.at_s >= limits.growth_from_s for s in samples[:-1]):
        return f"not applicable: no sample after minute {limits.growth_from_s / 60:g} but the last"
    return None


def verdict(
    exactness: list[str],
    growths: list[Growth] | None,
    restarted: list[str],
    samples: Sequence[MemorySample],
    limits: Limits,
) -> list[str]:
    """Every reason the soak fails (empty: it passes). `exactness`: the window's differences; `growths`:
    None when the growth check does not apply."""
    failures = [f"not exact: {difference}" for difference in exactness]
    failures += [f"restarted: {restart}" for restart in restarted]
    for item in growths or []:
        if not item.within(limits.growth):
            shown = "missing at either end" if item.ratio is None else f"grew {item.ratio:+.1%}"
            failures.append(f"{item.name}: {shown} (limit {limits.growth:+.0%})")
    if not samples:
        failures.append("no memory sample taken")
    elif (top := peak(samples)).stack_pss > limits.stack_bytes:
        failures.append(
            f"the stack's memory (PSS) reached {top.stack_pss / GIB:.2f} GiB at {top.at_s:.0f} s "
            f"(limit {limits.stack_bytes / GIB:g} GiB)"
        )
    return failures


def sent_per_symbol(runs: Iterable[LoadRun]) -> Counter[str]:
    return Counter(symbol for run in runs for symbol, _ in run.trade_keys())


def result_json(
    args: argparse.Namespace,
    sent: int,
    report: WindowReport,
    committed_after_s: float,
    samples: Sequence[MemorySample],
    limits: Limits,
    sampling_errors: list[str],
) -> dict[str, Any]:
    """The soak's figures and verdict, as var/bench/soak.json holds them."""
    not_applicable = growth_not_applicable(args.minutes, samples, limits)
    growths = None if not_applicable else growth(samples, limits.growth_from_s)
    restarted = restarts(samples)
    differences = list(report.differences)
    if sum(report.sent.values()) == 0:
        differences.append("nothing was sent in the window")
    failures = verdict(differences, growths, restarted, samples, limits)
    top = peak(samples) if samples else None
    return {
        "minutes": args.minutes,
        "rate_trades_per_s": args.rate,
        "load_trades_sent": sent,
        "sample_seconds": args.sample_seconds,
        "exactness": {
            "exact": not differences,
            "sent": sum(report.sent.values()),
            "in_kafka": sum(report.in_kafka.values()),
            "in_cassandra": sum(report.in_cassandra.values()),
            "bars_checked": report.bars_checked,
            "differences": differences,
            "committed_after_s": round(committed_after_s, 1),
        },
        "growth": {
            "applicable": growths is not None,
            "not_applicable": not_applicable,
            "from_s": limits.growth_from_s,
            "limit": limits.growth,
            "by_tree": {
                item.name: {
                    "from_bytes": item.from_bytes,
                    "end_bytes": item.end_bytes,
                    "growth": None if item.ratio is None else round(item.ratio, 4),
                    "within_limit": item.within(limits.growth),
                }
                for item in growths or []
            },
        },
        "restarts": restarted,
        "stack": {
            "limit_bytes": limits.stack_bytes,
            "measure": "pss",
            "peak_bytes": top.stack_pss if top else None,
            "peak_at_s": round(top.at_s, 1) if top else None,
            "end_bytes": samples[-1].stack_pss if samples else None,
            "peak_rss_bytes": max(sample.stack_rss for sample in samples) if samples else None,
        },
        "verdict": {"passed": not failures, "failures": failures},
        "spark_job_name": SPARK_JOB,
        "sampling_errors": sampling_errors,
        "samples": [sample.as_json() for sample in samples],
    }


def describe(result: dict[str, Any]) -> list[str]:
    exactness, growth_check, stack = result["exactness"], result["growth"], result["stack"]
    lines = [
        f"exactness: {exactness['sent']:,} trades sent in the window ({result['load_trades_sent']:,} by the "
        f"load), {exactness['in_kafka']:,} in Kafka, {exactness['in_cassandra']:,} rows in trades_v2, "
        f"{exactness['bars_checked']:,} bars checked; {len(exactness['differences'])} differences "
        f"(the job committed the window {exactness['committed_after_s']} s after it closed)",
    ]
    last = result["samples"][-1]["rss_bytes"] if result["samples"] else {}
    if growth_check["applicable"]:
        lines.append(
            f"RSS growth from minute {growth_check['from_s'] / 60:g} to the end (limit "
            f"{growth_check['limit']:+.0%}):"
        )
        for name, item in growth_check["by_tree"].items():
            shown = "-" if item["growth"] is None else f"{item['growth']:+.1%}"
            sizes = (
                ""
                if item["from_bytes"] is None or item["end_bytes"] is None
                else (f"{item['from_bytes'] / MIB:,.0f} → {item['end_bytes'] / MIB:,.0f} MiB")
            )
            lines.append(f"  {name:<26} {sizes:>22} {shown:>8} {'ok' if item['within_limit'] else 'OVER'}")
    else:
        lines.append(f"RSS growth: {growth_check['not_applicable']}")
        lines += [f"  {name:<26} {rss / MIB:>10,.0f} MiB at the end" for name, rss in last.items()]
    if stack["peak_bytes"] is not None:
        lines.append(
            f"whole stack (PSS): peak {stack['peak_bytes'] / GIB:.2f} GiB at {stack['peak_at_s']:.0f} s, end "
            f"{stack['end_bytes'] / GIB:.2f} GiB (limit {stack['limit_bytes'] / GIB:g} GiB; "
            f"{SPARK_JOB} counted within its program); RSS summed: peak "
            f"{stack['peak_rss_bytes'] / GIB:.2f} GiB"
        )
    lines += [f"restart: {restart}" for restart in result["restarts"]]
    verdict_ = result["verdict"]
    lines.append("verdict: PASS" if verdict_["passed"] else "verdict: FAIL")
    lines += [f"  {failure}" for failure in verdict_["failures"]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="minutes of load (make soak MINUTES=...)")
    parser.add_argument("--rate", type=int, default=1_000, help="trades/s of the load")
    parser.add_argument("--sample-seconds", type=float, default=10, help="seconds between memory samples")
    parser.add_argument(
        "--stack-limit-gib",
        type=float,
        default=Limits.stack_bytes / GIB,
        help="the whole stack's memory limit, PSS summed (the default is meant for TOPOLOGY=single: a "
        "cluster's Kafka brokers and Cassandra nodes and Spark's daemons take more)",
    )
    args = parser.parse_args()
    limits = Limits(stack_bytes=round(args.stack_limit_gib * GIB))
    settings = running_settings(PROGRAM)
    if not settings.uses_simulator:
        raise SystemExit(
            f"{PROGRAM}: the exactness check needs the stack's simulator (FINNHUB_API_KEY is set: a live "
            "feed cannot be silenced for a quiet moment)"
        )
    supervisor = stack_supervisor(settings)
    if not supervisor.programs():
        raise SystemExit(f"{PROGRAM}: supervisord is not running: start the stack (make up)")
    require_stream_job(settings, PROGRAM)
    name = f"soak{int(time.time())}"
    print(
        f"{PROGRAM}: {args.rate:,} trades/s for {args.minutes:g} min into the stack (TOPOLOGY="
        f"{settings.topology}), memory every {args.sample_seconds:g} s (load average {load_average()})",
        flush=True,
    )
    session = cassandra_session(settings.cassandra_connection())
    try:
        try:
            before = quiesce(settings)  # silences the simulator: resumed below, whatever happens
            resume(settings)
            load = SteadyLoad(settings.kafka_connection(), contracts.TRADES_TOPIC, None)
            with Sampler(supervisor, settings, args.sample_seconds) as sampler:
                load.run(args.rate, args.minutes * 60, name)
                load.flush()
            print(
                f"load done: {load.sent:,} trades; a quiet moment, then the exactness check ...", flush=True
            )
            after = quiesce(settings)
            committed_after_s = wait_until_committed(settings, after, COMMIT_TIMEOUT_S)
            report = compare_window(settings, session, before, after, also_sent=sent_per_symbol(load.runs))
        finally:
            resume(settings)
    finally:
        session.cluster.shutdown()
    result = result_json(args, load.sent, report, committed_after_s, sampler.samples, limits, sampler.errors)
    result |= {"topology": settings.topology, "load_average_after": load_average()}
    out = settings.var_dir / "bench" / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot = out.with_name("soak-rss.png")
    rss_plot(result, plot)
    print("\n".join(describe(result)))
    print(f"written to {out} and {plot}")


if __name__ == "__main__":
    main()
