"""`make bench-security`: what TLS and SASL cost, as ratios of the secured figures to the plaintext ones
measured in the same run on the same stack.

What runs: `bench-producer` and `bench-stream`, unchanged, as programs (`python -m benchmarks.bench_...`,
their own arguments below), first in the stack's mode as it is, then after switching the stack to the other
mode with `stack up` under ENABLE_SSL (the switch a user makes: every engine restarts with TLS listeners,
SCRAM and password authentication, or without), and at the end back to the mode it started in.

In each mode both benchmarks measure against their own raw baseline in that mode: the raw confluent-kafka
loop and the fast cassandra-driver writer connect exactly as the pipeline does (SASL_SSL with SCRAM-SHA-512,
and TLS with a password), so each raw baseline's secured/plaintext ratio is the cost TLS and SASL put on the
client libraries themselves, and the pipeline's is the cost it sees. Secured, the benchmarks connect as the
runtime's admin principals (`RuntimeSettings.kafka_connection()`), because they create and drop topics and
keyspaces of their own, which the producer's and the job's principals may not do; an admin's requests skip
the ACL lookup, a map lookup per request, so the pipeline's principals would pay a little more.

One switch each way, not alternating modes: a switch restarts every engine (3 to 5 minutes here), and the
benchmarks already alternate pipeline and baseline runs within each mode; the load average before and after
each part is recorded. Results: printed and var/bench/security.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.figures import load_average
from stack.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parents[1]

# (benchmark, module, the file it writes under var/bench/)
BENCHMARKS = (
    ("producer", "benchmarks.bench_producer", "producer.json"),
    ("stream", "benchmarks.bench_stream", "stream.json"),
)

# The figures compared: (label, benchmark, path into its JSON, whether higher is better)
FIGURES = (
    ("producer trades/s", "producer", ("producer_trades_per_s",), True),
    ("raw confluent-kafka trades/s", "producer", ("raw_confluent_kafka_trades_per_s",), True),
    ("producer CPU µs/trade", "producer", ("producer_cpu_us_per_trade",), False),
    ("Spark job trades/s", "stream", ("throughput", "job_trades_per_s"), True),
    ("fast cassandra-driver rows/s", "stream", ("throughput", "fast_writer_rows_per_s"), True),
    ("end-to-end row p50 s", "stream", ("latency", 0, "row", "p50_s"), False),
    ("end-to-end row p99 s", "stream", ("latency", 0, "row", "p99_s"), False),
    ("end-to-end bar p99 s", "stream", ("latency", 0, "bar", "p99_s"), False),
)


def mode_name(enable_ssl: bool) -> str:
    return "secured" if enable_ssl else "plaintext"


def stack_up(enable_ssl: str | None) -> tuple[float, bool]:
    """`stack up` with ENABLE_SSL set to `enable_ssl` (None: unset, .env decides) in this process's
    environment too, so the settings read here and every program started from here see the same mode;
    the seconds it took and whether it succeeded (its output goes to ours)."""
    if enable_ssl is None:
        os.environ.pop("ENABLE_SSL", None)
    else:
        os.environ["ENABLE_SSL"] = enable_ssl
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "stack", "up"], cwd=ROOT, check=False)
    return time.monotonic() - started, result.returncode == 0


def switch(enable_ssl: bool) -> float:
    """The stack switched to the mode given; seconds it took."""
    print(f"switching the stack to {mode_name(enable_ssl)} (stack up) ...", flush=True)
    seconds, ok = stack_up("true" if enable_ssl else "false")
    if not ok:
        raise SystemExit(f"bench-security: switching the stack to {mode_name(enable_ssl)} failed (above)")
    return seconds


def measure(enable_ssl: bool, arguments: dict[str, list[str]]) -> dict[str, Any]:
    """Both benchmarks on the stack as it now runs (they read ENABLE_SSL as this process has it)."""
    settings = RuntimeSettings.load_or_exit("bench-security")
    if settings.enable_ssl != enable_ssl:
        raise SystemExit(f"bench-security: the stack is not {mode_name(enable_ssl)} after the switch")
    results: dict[str, Any] = {}
    for benchmark, module, output in BENCHMARKS:
        print(f"--- {benchmark} benchmark, {mode_name(enable_ssl)} ---", flush=True)
        before = load_average()
        command = [sys.executable, "-m", module, *arguments[benchmark]]
        if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:
            raise SystemExit(f"bench-security: {module} failed ({mode_name(enable_ssl)}); see above")
        figures = json.loads((settings.var_dir / "bench" / output).read_text())
        results[benchmark] = figures | {"load_average_before": before, "load_average_after": load_average()}
    return results


def figure(results: dict[str, Any], benchmark: str, path: tuple[str | int, ...]) -> float | None:
    value: Any = results[benchmark]
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return None if value is None else float(value)


def compare(plaintext: dict[str, Any], secured: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, benchmark, path, higher_is_better in FIGURES:
        plain, safe = figure(plaintext, benchmark, path), figure(secured, benchmark, path)
        ratio = round(safe / plain, 3) if plain and safe is not None else None
        rows.append(
            {
                "figure": label,
                "plaintext": plain,
                "secured": safe,
                "secured_to_plaintext": ratio,
                "higher_is_better": higher_is_better,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--producer-args", default="--trades 200000 --rounds 3", help="bench-producer's arguments"
    )
    parser.add_argument(
        "--stream-args",
        default="--trades 60000 --tune-trades 20000 --rounds 3 --latency-runs 1 --warmup-seconds 30 "
        "--job-env SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER=20000",
        help="bench-stream's arguments (the first latency run is the one compared)",
    )
    args = parser.parse_args()
    arguments = {"producer": args.producer_args.split(), "stream": args.stream_args.split()}
    started_secured = RuntimeSettings.load_or_exit("bench-security").enable_ssl
    caller_enable_ssl = os.environ.get("ENABLE_SSL")

    by_mode: dict[bool, dict[str, Any]] = {}
    switches: dict[str, float] = {}
    try:
        by_mode[started_secured] = measure(started_secured, arguments)
        switches[f"to_{mode_name(not started_secured)}_s"] = round(switch(not started_secured))
        by_mode[not started_secured] = measure(not started_secured, arguments)
    finally:
        # Back to the mode the stack was in: the caller's environment and .env decide it, as before.
        print(f"switching the stack back to {mode_name(started_secured)} (stack up) ...", flush=True)
        seconds, ok = stack_up(caller_enable_ssl)
        switches[f"back_to_{mode_name(started_secured)}_s"] = round(seconds)
        if not ok:
            print("bench-security: switching the stack back failed (above)", file=sys.stderr)

    rows = compare(by_mode[False], by_mode[True])
    order = [mode_name(started_secured), mode_name(not started_secured)]
    result = {
        "order": order,
        "switch_seconds": switches,
        "comparison": rows,
        "plaintext": by_mode[False],
        "secured": by_mode[True],
    }
    out = RuntimeSettings.load_or_exit("bench-security").var_dir / "bench" / "security.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'figure':<30} {'plaintext':>12} {'secured':>12} {'secured ÷ plaintext':>20}")
    for row in rows:
        ratio = "-" if row["secured_to_plaintext"] is None else f"{row['secured_to_plaintext']:.3f}"
        print(f"{row['figure']:<30} {row['plaintext']!s:>12} {row['secured']!s:>12} {ratio:>20}")
    print(
        f"order {' then '.join(order)}; switches {switches}; load average now {load_average()};"
        f" written to {out}"
    )


if __name__ == "__main__":
    main()
