"""Parsing what nodetool prints (pure): `tablestats -F json` into the few figures compaction reports.

`hooks/nodetool.py` runs the commands; nodetool's JVM may print warnings before the JSON, so the parser
starts at the first brace.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from finnhub_pipeline.exceptions import NodetoolError


@dataclass(frozen=True)
class TableStats:
    keyspace: str
    table: str
    sstable_count: int
    space_used_live_bytes: int
    space_used_total_bytes: int
    space_used_by_snapshots_bytes: int
    partitions_estimate: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(value: Any) -> int:
    # nodetool prints some sizes as strings in JSON ("25665"), others as numbers.
    return int(float(value)) if value not in (None, "", "NaN") else 0


def parse_tablestats_json(output: str, keyspace: str, table: str) -> TableStats:
    start = output.find("{")
    if start < 0:
        raise NodetoolError(f"nodetool tablestats {keyspace}.{table}: no JSON in output: {output[:300]!r}")
    try:
        document = json.loads(output[start:])
        stats = document[keyspace]["tables"][table]
    except (ValueError, KeyError, TypeError) as error:
        raise NodetoolError(
            f"nodetool tablestats {keyspace}.{table}: unexpected output ({error!r}): {output[:300]!r}"
        ) from error
    return TableStats(
        keyspace=keyspace,
        table=table,
        sstable_count=_int(stats.get("sstable_count")),
        space_used_live_bytes=_int(stats.get("space_used_live")),
        space_used_total_bytes=_int(stats.get("space_used_total")),
        space_used_by_snapshots_bytes=_int(stats.get("space_used_by_snapshots_total")),
        partitions_estimate=_int(stats.get("number_of_partitions_estimate")),
    )
