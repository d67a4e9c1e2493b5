"""The simulator's market: deterministic per seed and symbol, realistic shapes, and valid for the producer."""

from __future__ import annotations

import time

from services.producer.frames import ValidationRules, parse_frame
from services.producer.simulator.market import Market, SymbolTape, trade_frame

SYMBOLS = ["AAPL", "TSLA", "BINANCE:BTCUSDT", "OANDA:EUR_USD", "IC MARKETS:1"]


def test_the_same_seed_gives_the_same_tape() -> None:
    assert SymbolTape(7, "AAPL").take(500) == SymbolTape(7, "AAPL").take(500)


def test_different_seeds_give_different_tapes() -> None:
    assert SymbolTape(7, "AAPL").take(50) != SymbolTape(8, "AAPL").take(50)


def test_a_symbols_trades_do_not_depend_on_which_other_symbols_trade() -> None:
    alone = Market(3).take(["AAPL"], 200)
    mixed = [t for t in Market(3).take(SYMBOLS, 2000) if t.symbol == "AAPL"]
    assert mixed[:200] == alone[: len(mixed[:200])] == SymbolTape(3, "AAPL").take(len(mixed[:200]))


def test_the_same_seed_and_subscriptions_give_the_same_market_sequence() -> None:
    assert Market(11).take(SYMBOLS, 3000) == Market(11).take(SYMBOLS, 3000)


def test_simulated_frames_yield_no_dead_letters_in_the_producer() -> None:
    market = Market(5)
    now_ms = time.time_ns() // 1_000_000
    rules = ValidationRules(symbols=frozenset(SYMBOLS))
    total = 0
    for _ in range(50):
        trades = market.take(SYMBOLS, 200)
        outcome = parse_frame(trade_frame(trades, now_ms), now_ms, rules)
        assert outcome.dead_letters == []
        assert len(outcome.trades) == len(trades)
        total += len(outcome.trades)
    assert total == 10_000


def test_the_tape_has_same_ms_clusters_fractional_and_zero_volumes_and_bare_conditions() -> None:
    trades = Market(1).take(SYMBOLS, 5000)
    assert any(t.same_ms_as_next and t.symbol == "AAPL" for t in trades)
    assert any(isinstance(t.volume, float) and not t.volume.is_integer() for t in trades)
    assert any(t.volume == 0 for t in trades)
    stock = [t for t in trades if t.symbol in ("AAPL", "TSLA")]
    assert any(t.conditions is None for t in stock) and any(t.conditions == () for t in stock)
    assert any(t.conditions for t in stock)


def test_trades_given_back_come_first_and_in_order() -> None:
    tape = SymbolTape(2, "MSFT")
    first = tape.take(5)
    tape.give_back(first[2:])
    assert tape.take(5) == first[2:] + SymbolTape(2, "MSFT").take(7)[5:]


def test_prices_stay_positive_over_a_long_walk() -> None:
    assert all(t.price > 0 for t in SymbolTape(1, "OANDA:EUR_USD").take(50_000))
