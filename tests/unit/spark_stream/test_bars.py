"""Bar math against expectations written out by hand or computed independently with pandas."""

from __future__ import annotations

import itertools
import math
import random

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.spark_stream.bars import BAR_WINDOW_MS, Bar, BarTrade, WindowTrades, compute_bar, window_start_ms


def pandas_bar(trades: list[BarTrade]) -> dict[str, float | int | None]:
    """The same figures by another route: a pandas frame sorted with a stable multi-key sort."""
    frame = pd.DataFrame(trades, columns=["ts", "trade_id", "price", "volume"])
    frame = frame.sort_values(["ts", "trade_id"], kind="mergesort").reset_index(drop=True)
    volume = frame["volume"].sum()
    return {
        "open": frame["price"].iloc[0],
        "close": frame["price"].iloc[-1],
        "high": frame["price"].max(),
        "low": frame["price"].min(),
        "volume": volume,
        "trade_count": len(frame),
        "vwap": (frame["price"] * frame["volume"]).sum() / volume if volume > 0 else None,
        "mean_price": frame["price"].mean(),
        "stddev_price": frame["price"].std(ddof=0),
    }


def test_open_and_close_follow_trade_time_not_input_order() -> None:
    bar = compute_bar(
        [
            BarTrade(1_030, "c", 12.0, 1.0),
            BarTrade(1_000, "a", 10.0, 1.0),
            BarTrade(1_050, "d", 9.0, 1.0),
            BarTrade(1_010, "b", 15.0, 1.0),
        ]
    )
    assert (bar.open, bar.high, bar.low, bar.close) == (10.0, 15.0, 9.0, 9.0)
    assert (bar.first_trade_ts_ms, bar.last_trade_ts_ms) == (1_000, 1_050)


def test_same_millisecond_ties_are_broken_by_trade_id() -> None:
    trades = [
        BarTrade(5_000, "x-2", 101.0, 1.0),
        BarTrade(5_000, "x-0", 100.0, 1.0),
        BarTrade(5_000, "x-1", 102.0, 1.0),
    ]
    for _ in range(5):
        random.shuffle(trades)
        bar = compute_bar(trades)
        assert (bar.open, bar.close) == (100.0, 101.0)


def test_vwap_weights_prices_by_fractional_volume() -> None:
    bar = compute_bar([BarTrade(1, "a", 100.0, 0.25), BarTrade(2, "b", 200.0, 0.75)])
    # (100 * 0.25 + 200 * 0.75) / 1.0
    assert bar.vwap == pytest.approx(175.0)
    assert bar.volume == pytest.approx(1.0)
    assert bar.mean_price == pytest.approx(150.0)


def test_vwap_is_undefined_when_the_minute_has_no_volume() -> None:
    bar = compute_bar([BarTrade(1, "a", 100.0, 0.0), BarTrade(2, "b", 102.0, 0.0)])
    assert (bar.vwap, bar.volume, bar.trade_count, bar.mean_price) == (None, 0.0, 2, 101.0)


def test_zero_volume_price_updates_count_in_price_figures_but_not_vwap() -> None:
    bar = compute_bar([BarTrade(1, "a", 100.0, 2.0), BarTrade(2, "b", 110.0, 0.0)])
    assert (bar.vwap, bar.close, bar.high, bar.trade_count) == (100.0, 110.0, 110.0, 2)


def test_stddev_is_the_population_standard_deviation() -> None:
    bar = compute_bar(
        [BarTrade(i, str(i), p, 1.0) for i, p in enumerate([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])]
    )
    assert (bar.mean_price, bar.stddev_price) == (5.0, 2.0)


def test_single_trade_bar_has_zero_stddev_and_its_price_everywhere() -> None:
    bar = compute_bar([BarTrade(7, "only", 42.5, 3.0)])
    assert (bar.open, bar.high, bar.low, bar.close, bar.vwap, bar.mean_price, bar.stddev_price) == (
        42.5,
        42.5,
        42.5,
        42.5,
        42.5,
        42.5,
        0.0,
    )


def test_empty_window_has_no_bar() -> None:
    with pytest.raises(ValueError, match="at least one trade"):
        compute_bar([])


@pytest.mark.parametrize(
    ("trade_ts_ms", "expected"),
    [(1_700_000_040_000, 1_700_000_040_000), (1_700_000_099_999, 1_700_000_040_000), (-1, -60_000)],
)
def test_window_start_is_the_minute_floor_of_the_trade_time(trade_ts_ms: int, expected: int) -> None:
    assert window_start_ms(trade_ts_ms) == expected


trade_lists = st.lists(
    st.builds(
        BarTrade,
        trade_ts_ms=st.integers(0, 59_999),
        trade_id=st.text(alphabet="0123456789abcdef-", min_size=1, max_size=6),
        price=st.floats(0.0001, 1e6, allow_nan=False),
        volume=st.one_of(st.just(0.0), st.floats(0.0, 1e6, allow_nan=False)),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda trade: trade.trade_id,
)


# No deadline: pandas' first call on a busy 2-core machine can take longer than hypothesis' 200 ms default.
@settings(deadline=None)
@given(trade_lists)
def test_bar_matches_an_independent_pandas_computation(trades: list[BarTrade]) -> None:
    bar, expected = compute_bar(trades), pandas_bar(trades)

    assert (bar.open, bar.close, bar.high, bar.low, bar.trade_count) == (
        expected["open"],
        expected["close"],
        expected["high"],
        expected["low"],
        expected["trade_count"],
    )
    assert bar.volume == pytest.approx(expected["volume"], rel=1e-9)
    assert bar.mean_price == pytest.approx(expected["mean_price"], rel=1e-9)
    assert bar.stddev_price == pytest.approx(expected["stddev_price"], rel=1e-6, abs=1e-6 * bar.mean_price)
    if expected["vwap"] is None:
        assert bar.vwap is None
    else:
        assert bar.vwap is not None and math.isclose(bar.vwap, float(expected["vwap"]), rel_tol=1e-9)


@given(trade_lists, st.randoms())
def test_bar_does_not_depend_on_the_order_trades_arrive_in(
    trades: list[BarTrade], rnd: random.Random
) -> None:
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    assert compute_bar(shuffled) == compute_bar(trades)


def fsum_bar(trades: list[BarTrade]) -> Bar:
    """The bar by its written-out formulas: a sort by (time, id) and `math.fsum` over the whole list (the
    reconciliation has compared stored bars with exactly these bits)."""
    ordered = sorted(trades, key=lambda trade: (trade.trade_ts_ms, trade.trade_id))
    prices = [trade.price for trade in ordered]
    volume = math.fsum(trade.volume for trade in ordered)
    mean = math.fsum(prices) / len(prices)
    return Bar(
        open=prices[0],
        high=max(prices),
        low=min(prices),
        close=prices[-1],
        volume=volume,
        trade_count=len(prices),
        vwap=math.fsum(t.price * t.volume for t in ordered) / volume if volume > 0 else None,
        mean_price=mean,
        stddev_price=math.sqrt(math.fsum((price - mean) ** 2 for price in prices) / len(prices)),
        first_trade_ts_ms=ordered[0].trade_ts_ms,
        last_trade_ts_ms=ordered[-1].trade_ts_ms,
    )


# Prices and volumes whose sums lose bits in a naive running sum, and magnitudes far apart.
awkward_floats = st.one_of(
    st.sampled_from([0.1, 0.2, 0.3, 1e-9, 97_000.123456, 1.05, 1e12]),
    st.floats(0.0001, 1e9, allow_nan=False),
)
awkward_trades = st.lists(
    st.builds(
        BarTrade,
        trade_ts_ms=st.integers(0, 59_999),
        trade_id=st.text(alphabet="0123456789abcdef-", min_size=1, max_size=6),
        price=awkward_floats,
        volume=st.one_of(st.just(0.0), awkward_floats),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda trade: (trade.trade_ts_ms, trade.trade_id),
)


@given(awkward_trades)
def test_bar_is_bit_for_bit_the_fsum_formulas(trades: list[BarTrade]) -> None:
    assert compute_bar(trades) == fsum_bar(trades)


@given(awkward_trades, st.lists(st.integers(0, 60), max_size=5), st.randoms())
def test_trades_added_in_batches_with_repeats_give_the_bar_of_their_distinct_set(
    trades: list[BarTrade], cuts: list[int], rnd: random.Random
) -> None:
    arriving = trades + rnd.sample(trades, k=len(trades) // 3)  # replays and producer repeats
    rnd.shuffle(arriving)
    window = WindowTrades()
    bounds = [0, *sorted(cut % (len(arriving) + 1) for cut in cuts), len(arriving)]
    for start, end in itertools.pairwise(bounds):
        assert all([window.add(trade) for trade in arriving[start:end]])
        if len(window):
            assert window.bar() == fsum_bar(
                list({(t.trade_ts_ms, t.trade_id): t for t in arriving[:end]}.values())
            )
    assert window.bar() == fsum_bar(trades)


def test_a_trade_key_seen_with_other_figures_is_refused_and_changes_nothing() -> None:
    window = WindowTrades.of([BarTrade(1, "a", 10.0, 1.0), BarTrade(2, "b", 11.0, 1.0)])
    before = window.bar()

    assert window.add(BarTrade(1, "a", 10.0, 1.0))  # the same trade again: kept once
    assert not window.add(BarTrade(2, "b", 99.0, 1.0))
    assert window.bar() == before
    with pytest.raises(ValueError, match=r"key \(2, 'b'\)"):
        compute_bar([BarTrade(2, "b", 11.0, 1.0), BarTrade(2, "b", 12.0, 1.0)])


def test_a_utc_day_is_a_whole_number_of_windows() -> None:
    # So a window's trades always sit in one trades_v2 partition (symbol, year, month, day).
    assert 86_400_000 % BAR_WINDOW_MS == 0
