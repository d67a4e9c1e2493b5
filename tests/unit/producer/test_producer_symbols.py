"""Symbol syntax and replica sharding: disjoint, complete, stable and balanced shards."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.producer.symbols import is_valid_symbol, parse_symbols, symbol_shard

SEED_SYMBOLS = ("AAPL", "GOOGL", "MSFT", "AMZN", "TSLA", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT")
symbol_lists = st.lists(
    st.from_regex(r"[A-Z]{1,5}(:[A-Z0-9_]{1,8})?", fullmatch=True), min_size=1, max_size=80
)


@settings(deadline=None)
@given(symbol_lists, st.integers(min_value=1, max_value=12))
def test_shards_are_disjoint_and_their_union_is_every_symbol(symbols: list[str], count: int) -> None:
    shards = [symbol_shard(symbols, i, count) for i in range(count)]
    flat = [symbol for shard in shards for symbol in shard]
    assert len(flat) == len(set(flat))
    assert set(flat) == set(symbols)


@settings(deadline=None)
@given(symbol_lists, st.integers(min_value=1, max_value=12))
def test_shard_sizes_differ_by_at_most_one(symbols: list[str], count: int) -> None:
    sizes = [len(symbol_shard(symbols, i, count)) for i in range(count)]
    assert max(sizes) - min(sizes) <= 1


@settings(deadline=None)
@given(symbol_lists, st.integers(min_value=1, max_value=6), st.randoms())
def test_shard_membership_does_not_depend_on_the_order_of_symbols(
    symbols: list[str], count: int, rng
) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(symbols)
    rng.shuffle(shuffled)
    for i in range(count):
        assert set(symbol_shard(symbols, i, count)) == set(symbol_shard(shuffled, i, count))


def test_shards_are_the_same_in_processes_with_different_hash_seeds() -> None:
    code = f"from services.producer.symbols import symbol_shard as s; print(s({SEED_SYMBOLS!r}, 1, 3))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_shards_of_the_seed_symbols_are_pinned() -> None:
    # Pinned: a change here moves subscriptions between running replicas (and their API keys).
    assert [symbol_shard(SEED_SYMBOLS, i, 2) for i in range(2)] == [
        ("AAPL", "TSLA", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT"),
        ("GOOGL", "MSFT", "AMZN"),
    ]


def test_one_replica_takes_every_symbol_in_the_given_order() -> None:
    assert symbol_shard(SEED_SYMBOLS, 0, 1) == SEED_SYMBOLS


@pytest.mark.parametrize(("index", "count"), [(2, 2), (-1, 2), (0, 0)])
def test_replica_index_outside_the_count_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError):
        symbol_shard(SEED_SYMBOLS, index, count)


def test_symbols_are_split_trimmed_and_deduplicated() -> None:
    assert parse_symbols(" AAPL, BINANCE:BTCUSDT,,AAPL ,IC MARKETS:1") == (
        "AAPL",
        "BINANCE:BTCUSDT",
        "IC MARKETS:1",
    )


@pytest.mark.parametrize("symbol", ["aapl", "AAPL!", " ", "A" * 65, "AAPL\n"])
def test_malformed_symbols_are_refused(symbol: str) -> None:
    assert not is_valid_symbol(symbol)


@pytest.mark.parametrize(
    "symbol", ["AAPL", "BRK.B", "BINANCE:BTCUSDT", "OANDA:EUR_USD", "IC MARKETS:1", "^GSPC"]
)
def test_real_symbol_shapes_are_accepted(symbol: str) -> None:
    assert is_valid_symbol(symbol)
