"""bench-security's comparison of the two modes' benchmark results (pure; the benchmark itself runs live)."""

from __future__ import annotations

from benchmarks.bench_security import FIGURES, compare


def results(producer_rate: float, p99: float | None) -> dict[str, object]:
    return {
        "producer": {
            "producer_trades_per_s": producer_rate,
            "raw_confluent_kafka_trades_per_s": 100_000,
            "producer_cpu_us_per_trade": 5.0,
        },
        "stream": {
            "throughput": {"job_trades_per_s": 10_000, "fast_writer_rows_per_s": 20_000},
            "latency": [{"row": {"p50_s": 0.5, "p99_s": p99}, "bar": {"p99_s": 1.5}}],
        },
    }


def test_every_figure_is_compared_secured_to_plaintext() -> None:
    rows = {row["figure"]: row for row in compare(results(50_000, 1.0), results(40_000, 1.25))}
    assert set(rows) == {label for label, *_ in FIGURES}
    assert rows["producer trades/s"]["secured_to_plaintext"] == 0.8
    assert rows["end-to-end row p99 s"]["secured_to_plaintext"] == 1.25
    assert rows["Spark job trades/s"]["secured_to_plaintext"] == 1.0


def test_a_figure_missing_in_either_mode_has_no_ratio() -> None:
    rows = {row["figure"]: row for row in compare(results(50_000, None), results(40_000, 1.0))}
    assert rows["end-to-end row p99 s"]["plaintext"] is None
    assert rows["end-to-end row p99 s"]["secured_to_plaintext"] is None
