"""Gauges with tags, in DogStatsD's line format, to the StatsD server of Airflow's own `[metrics]` settings.

Why not Airflow's `Stats`: it drops tags unless InfluxDB-style tags are enabled, and then puts them into the
metric name, where Airflow allows no `:`; Finnhub symbols have one (`BINANCE:BTCUSDT`). statsd_exporter
reads DogStatsD tags (`name:1|g|#symbol:BINANCE:BTCUSDT`) and splits each tag at its first `:`, so the
symbol arrives whole as a label. Names get Airflow's `statsd_prefix`, so the exporter's mapping
(monitoring/statsd/mapping.yml) sees them beside Airflow's own.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

TAG_UNSAFE = str.maketrans({",": "_", "|": "_", "#": "_", "\n": "_"})
"""Characters that end a tag or a line in DogStatsD; replaced so a value cannot break the line."""


def gauge_line(name: str, value: float, tags: Mapping[str, str] | None = None) -> str:
    """`name:value|g`, with `|#key:value,...` when there are tags. A gauge is never sent negative (a leading
    sign would make it a relative change)."""
    if value < 0:
        raise ValueError(f"gauge {name} must not be negative, got {value}")
    number = repr(float(value)) if not float(value).is_integer() else str(int(value))
    line = f"{name}:{number}|g"
    if tags:
        line += "|#" + ",".join(
            f"{key.translate(TAG_UNSAFE).replace(':', '_')}:{str(tag).translate(TAG_UNSAFE)}"
            for key, tag in sorted(tags.items())
        )
    return line


@dataclass(frozen=True)
class StatsdTarget:
    host: str
    port: int
    prefix: str


def airflow_statsd_target() -> StatsdTarget | None:
    """Where Airflow sends its StatsD metrics (`[metrics] statsd_host, statsd_port, statsd_prefix`), or None
    when `statsd_on` is off. Read at run time, in the task."""
    from airflow.sdk.configuration import conf

    if not conf.getboolean("metrics", "statsd_on", fallback=False):
        return None
    return StatsdTarget(
        host=conf.get("metrics", "statsd_host", fallback="localhost"),
        port=conf.getint("metrics", "statsd_port", fallback=8125),
        prefix=conf.get("metrics", "statsd_prefix", fallback="airflow"),
    )


class TaggedStats:
    """Sends gauges over UDP (as StatsD does: fire and forget; a lost datagram is a missed sample)."""

    def __init__(self, target: StatsdTarget | None) -> None:
        self.target = target

    def gauge(self, name: str, value: float, tags: Mapping[str, str] | None = None) -> None:
        if self.target is None:
            return
        full_name = f"{self.target.prefix}.{name}" if self.target.prefix else name
        line = gauge_line(full_name, value, tags)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.sendto(line.encode(), (self.target.host, self.target.port))
            except OSError as error:
                log.warning("event=statsd_send_failed line=%r error=%s", line, error)
