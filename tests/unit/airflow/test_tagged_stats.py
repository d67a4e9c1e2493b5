"""DogStatsD gauge lines as statsd_exporter parses them: a symbol with ':' stays whole in its tag."""

from __future__ import annotations

import pytest

from finnhub_pipeline.tagged_stats import TaggedStats, gauge_line


def test_a_symbol_with_a_colon_is_sent_whole_as_a_tag() -> None:
    line = gauge_line("airflow.reconciliation.missing_trades", 1, {"symbol": "BINANCE:BTCUSDT"})

    assert line == "airflow.reconciliation.missing_trades:1|g|#symbol:BINANCE:BTCUSDT"


def test_tags_are_sorted_and_characters_that_would_end_a_tag_are_replaced() -> None:
    line = gauge_line("m", 2.5, {"symbol": "A,B|C#D", "kind": "x"})

    assert line == "m:2.5|g|#kind:x,symbol:A_B_C_D"


def test_a_gauge_without_tags_is_plain_statsd() -> None:
    assert (
        gauge_line("airflow.reconciliation.windows_checked", 3.0)
        == "airflow.reconciliation.windows_checked:3|g"
    )


def test_a_negative_gauge_is_refused_as_it_would_be_read_as_a_decrement() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        gauge_line("m", -1)


def test_without_a_statsd_target_nothing_is_sent() -> None:
    TaggedStats(None).gauge("m", 1, {"symbol": "AAPL"})  # no error, no socket
