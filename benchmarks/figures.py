"""The figures the benchmarks report, computed one way for all of them: latency percentiles over probe trades
(a probe never seen counts as slower than every other) and the machine's load average beside each result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from testkit.stream import ProbeTimes


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def percentile(sorted_values: list[float], total: int, fraction: float) -> float | None:
    """The `fraction` percentile over `total` samples of which `sorted_values` arrived; a missing sample
    counts as slower than all (then the percentile may be None)."""
    index = int(total * fraction)
    return round(sorted_values[index], 3) if index < len(sorted_values) else None


def summary(latencies: list[float], total: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "p50_s": percentile(ordered, total, 0.5),
        "p99_s": percentile(ordered, total, 0.99),
        "max_s": round(ordered[-1], 3) if ordered else None,
        "missing": total - len(ordered),
    }


def probe_latency(probes: Sequence[ProbeTimes]) -> dict[str, dict[str, Any]]:
    """Sent → row readable in trades_v2 ("row") and → the minute's bar reflecting it ("bar")."""
    return {
        "row": summary([p.row - p.sent for p in probes if p.row is not None], len(probes)),
        "bar": summary([p.bar - p.sent for p in probes if p.bar is not None], len(probes)),
    }
