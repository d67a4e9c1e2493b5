"""The benchmarks' plots render from their JSON results to PNG files, headless (no display)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.bench_curve import capacity
from benchmarks.plots import curve_plot, rss_plot
from benchmarks.soak import Limits, result_json
from benchmarks.stack_memory import MemorySample, Tree
from testkit.window import WindowReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def curve_step(offered: int, p99: float | None, achieved: int) -> dict[str, Any]:
    return {
        "offered_trades_per_s": offered,
        "achieved_records_per_s": achieved,
        "row": {"p50_s": 0.2, "p99_s": p99, "max_s": None if p99 is None else p99 * 2},
        "falls_behind": [] if p99 is not None and p99 < 1 else ["behind"],
    }


def test_the_curve_is_drawn_with_a_missing_p99(tmp_path: Path) -> None:
    steps = [curve_step(100, 0.4, 110), curve_step(1_000, 0.6, 1_010), curve_step(10_000, None, 6_000)]
    path = tmp_path / "curve.png"

    curve_plot({"steps": steps, "capacity": capacity(steps)}, path)

    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_the_memory_plot_is_drawn_per_program(tmp_path: Path) -> None:
    samples = [
        MemorySample(
            at, {"kafka": Tree(1, 2**30, 2**30, frozenset({1}))}, Tree(2, 2**29, 2**28, frozenset({2}))
        )
        for at in range(0, 400, 10)
    ]
    args = argparse.Namespace(minutes=6.5, rate=1_000, sample_seconds=10)
    report = WindowReport(sent=Counter({"AAPL": 1}), in_kafka=Counter({"AAPL": 1}))
    path = tmp_path / "soak-rss.png"

    rss_plot(result_json(args, 1, report, 1.0, samples, Limits(), []), path)

    assert path.read_bytes().startswith(PNG_SIGNATURE)
