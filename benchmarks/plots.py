"""The benchmarks' PNG plots, drawn from the results as their JSON files hold them: bench-curve's latency and
throughput against offered rate, the soak's memory per program over time. Matplotlib's Agg canvas, no
display and no pyplot state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.stack_memory import GIB, MIB


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def curve_plot(curve: Mapping[str, Any], path: Path) -> None:
    """Row latency p50/p99/max against offered rate (log-log), the 1 s goal as a line, and the records per
    second the job committed on a second axis beside the offered rate."""
    steps: Sequence[Mapping[str, Any]] = curve["steps"]
    goal = curve["capacity"]["latency_goal_s"]
    figure = Figure(figsize=(10, 6), layout="constrained")
    latency = figure.add_subplot()
    rates = [step["offered_trades_per_s"] for step in steps]
    for key, style, label in (
        ("p50_s", "o-", "row p50"),
        ("p99_s", "s-", "row p99"),
        ("max_s", "^--", "row max"),
    ):
        points = [
            (rate, step["row"][key]) for rate, step in zip(rates, steps, strict=True) if step["row"][key]
        ]
        if points:
            latency.plot([x for x, _ in points], [y for _, y in points], style, label=label)
    latency.axhline(goal, color="red", linestyle=":", label=f"{goal:g} s")
    crossing = curve["capacity"].get("crossing_trades_per_s")
    if crossing:
        latency.axvline(crossing, color="red", alpha=0.3, label=f"p99 crosses {goal:g} s (~{crossing:,}/s)")
    latency.set_xscale("log")
    latency.set_yscale("log")
    latency.set_xlabel("offered rate (trades/s)")
    latency.set_ylabel("produced → row readable in trades_v2 (s)")
    latency.grid(True, which="both", alpha=0.3)
    throughput = latency.twinx()
    throughput.plot(
        rates, [s["achieved_records_per_s"] for s in steps], "d-", color="grey", label="committed/s"
    )
    throughput.plot(rates, rates, ":", color="grey", alpha=0.5, label="offered/s")
    throughput.set_yscale("log")
    throughput.set_ylabel("records/s the job committed")
    handles, labels = latency.get_legend_handles_labels()
    more_handles, more_labels = throughput.get_legend_handles_labels()
    latency.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize="small")
    capacity = curve["capacity"]["capacity_trades_per_s"]
    shown = "none" if capacity is None else f"{capacity:,} trades/s"
    latency.set_title(f"The stack's Spark job by offered rate: capacity (row p99 < {goal:g} s) {shown}")
    _save(figure, path)


def rss_plot(soak: Mapping[str, Any], path: Path) -> None:
    """Above, the RSS of each program's process tree (and of the Spark job within its program) over the
    soak; below, the whole stack's PSS against its limit, and its RSS summed; the growth check's starting
    sample marked on both."""
    samples: Sequence[Mapping[str, Any]] = soak["samples"]
    minutes = [sample["at_s"] / 60 for sample in samples]
    figure = Figure(figsize=(11, 8), layout="constrained")
    programs, total = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    names = sorted({name for sample in samples for name in sample["rss_bytes"]})
    for name in names:
        series = [sample["rss_bytes"].get(name) for sample in samples]
        style = "--" if name == soak["spark_job_name"] else "-"
        programs.plot(minutes, [None if v is None else v / MIB for v in series], style, label=name)
    programs.set_ylabel("RSS of the process tree (MiB)")
    programs.grid(True, alpha=0.3)
    programs.legend(loc="upper left", fontsize="small", ncols=2)
    total.plot(
        minutes, [sample["stack_pss_bytes"] / GIB for sample in samples], "k-", label="whole stack, PSS"
    )
    total.plot(
        minutes,
        [sample["stack_rss_bytes"] / GIB for sample in samples],
        "k:",
        label="RSS summed (overstates)",
    )
    limit = soak["stack"]["limit_bytes"] / GIB
    total.axhline(limit, color="red", linestyle=":", label=f"limit {limit:g} GiB")
    total.set_ylabel("GiB")
    total.set_xlabel("minutes since the load started")
    total.grid(True, alpha=0.3)
    total.legend(loc="lower right", fontsize="small")
    from_minute = soak["growth"]["from_s"] / 60
    for axes in (programs, total):
        axes.axvline(from_minute, color="grey", alpha=0.4)
    programs.set_title(
        f"Stack memory under {soak['rate_trades_per_s']:,} trades/s for {soak['minutes']:g} min "
        f"(growth checked from minute {from_minute:g}): {'PASS' if soak['verdict']['passed'] else 'FAIL'}"
    )
    _save(figure, path)
