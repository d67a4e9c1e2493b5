"""Property-based bad input through the real producer: hypothesis builds malformed frames and trades, the
simulator sends each one as it is (`/control/send`), and each lands in the real dead-letter topic with the
reason it deserves. The producer stays connected and its metrics count every one."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import contracts
from services.kafka_options import KafkaConnection
from stack.settings import RuntimeSettings
from testkit.kafka import end_offsets
from testkit.producer import Run, start_run
from tests.integration.producer.conftest import SYMBOLS

MAX_FRAME_BYTES = 1024
SUBSCRIBED = SYMBOLS.split(",")
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


FRAME_NUMBERS = itertools.count()


def trade_frame(**fields: Any) -> str:
    """A trade frame of one trade: a valid trade with `fields` replacing or (value None) removing keys.

    Each frame is numbered: the producer drops a byte-identical repeat of a trade frame as a duplicate."""
    trade: dict[str, Any] = {"s": "AAPL", "p": 101.5, "t": now_ms(), "v": 10, "c": ["1"]}
    for name, value in fields.items():
        if value is None:
            trade.pop(name)
        else:
            trade[name] = value
    return json.dumps({"type": "trade", "data": [trade], "n": next(FRAME_NUMBERS)}, allow_nan=True)


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


no_surrogates = st.characters(exclude_categories=["Cs"])
not_a_number = st.one_of(st.text(max_size=10), st.booleans(), st.lists(st.integers(), max_size=2), st.none())
good_price = st.floats(min_value=0.0001, max_value=1e6)

# (frame text, the reason the producer must give)
CASES = st.one_of(
    st.text(no_surrogates, min_size=1, max_size=80)
    .filter(lambda t: not parses(t))
    .map(lambda t: (t, "not_json")),
    st.text(
        st.characters(min_codepoint=97, max_codepoint=122), min_size=MAX_FRAME_BYTES + 1, max_size=3000
    ).map(lambda t: (json.dumps({"type": "trade", "data": [], "pad": t}), "oversized_frame")),
    st.one_of(
        st.text(no_surrogates, max_size=20)
        .filter(lambda t: t not in ("trade", "ping", "error"))
        .map(lambda t: json.dumps({"type": t})),
        st.lists(st.integers(), max_size=3).map(json.dumps),
        st.integers().map(json.dumps),
    ).map(lambda f: (f, "unexpected_message")),
    st.sampled_from(["s", "p", "t", "v"]).map(lambda name: (trade_frame(**{name: None}), "missing_field")),
    st.one_of(
        not_a_number.filter(lambda v: v is not None).map(lambda v: trade_frame(p=v)),
        not_a_number.filter(lambda v: v is not None).map(lambda v: trade_frame(v=v)),
        st.floats(allow_nan=False, allow_infinity=False)
        .filter(lambda f: not f.is_integer())
        .map(lambda f: trade_frame(t=f)),
        st.one_of(st.integers(), st.just(""), st.lists(st.text(max_size=3), max_size=2)).map(
            lambda s: trade_frame(s=s)
        ),
        st.lists(st.integers(), min_size=1, max_size=3).map(lambda c: trade_frame(c=c)),
    ).map(lambda f: (f, "wrong_type")),
    st.one_of(
        st.sampled_from([float("nan"), float("inf"), float("-inf")]).map(lambda x: trade_frame(p=x)),
        st.sampled_from([float("nan"), float("inf")]).map(lambda x: trade_frame(v=x)),
        st.builds(lambda: trade_frame(p=1).replace('"p": 1,', '"p": 1e400,')),
    ).map(lambda f: (f, "non_finite")),
    st.floats(max_value=0, allow_nan=False, allow_infinity=False).map(
        lambda p: (trade_frame(p=p), "non_positive_price")
    ),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(
        lambda v: (trade_frame(v=v), "negative_volume")
    ),
    st.integers(min_value=3600_000, max_value=100 * 365 * DAY_MS).map(
        lambda ahead: (trade_frame(t=now_ms() + ahead), "timestamp_in_future")
    ),
    st.integers(min_value=8 * DAY_MS, max_value=50 * 365 * DAY_MS).map(
        lambda age: (trade_frame(t=now_ms() - age), "timestamp_too_old")
    ),
    st.from_regex(r"\A[A-Z]{1,6}(:[A-Z0-9_]{1,10})?\Z")
    .filter(lambda s: s not in SUBSCRIBED)
    .map(lambda s: (trade_frame(s=s), "unknown_symbol")),
    st.tuples(good_price, st.floats(min_value=0, max_value=1e6)).map(
        lambda pv: (trade_frame(p=-pv[0], v=pv[1]), "non_positive_price")
    ),
)


class DeadLetters:
    """Reads the dead-letter topic one record at a time, from the start."""

    def __init__(self, connection: KafkaConnection, topic: str) -> None:
        self.consumer = Consumer(
            connection.client_options({"group.id": f"t-{topic}", "enable.auto.commit": False})
        )
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])

    def next(self, timeout_s: float = 30) -> dict[str, Any]:
        message = self.consumer.poll(timeout_s)
        assert message is not None, f"no dead letter within {timeout_s:.0f} s"
        assert message.error() is None, message.error()
        value = message.value()
        assert value is not None, "a dead letter without a value"
        return dict(orjson.loads(value))

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture(scope="module")
def bad_input_run(runtime: RuntimeSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run = start_run(
        tmp_path_factory.mktemp("bad-input"),
        runtime.kafka_connection(),
        f"t_bad_input_{now_ms()}",
        SYMBOLS,
        {"SIMULATOR_RATE": "0"},  # nothing but what the test sends
        {"PRODUCER_MAX_FRAME_BYTES": str(MAX_FRAME_BYTES)},
    )
    run.producer.wait_connected()
    yield run
    run.stop()


@pytest.fixture(scope="module")
def dead_letters(runtime: RuntimeSettings, bad_input_run: Run) -> Iterator[DeadLetters]:
    reader = DeadLetters(runtime.kafka_connection(), bad_input_run.dead_letter_topic)
    yield reader
    reader.close()


SENT: Counter[str] = Counter()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(case=CASES)
def test_bad_input_is_dead_lettered_with_its_reason(
    bad_input_run: Run, dead_letters: DeadLetters, case: tuple[str, str]
) -> None:
    frame, reason = case
    answer = bad_input_run.simulator.control("send", frame=frame)
    assert answer["connections"], "the producer is not connected to the simulator"
    SENT[reason] += 1

    record = dead_letters.next()
    assert tuple(record) == contracts.DEAD_LETTER_FIELDS
    assert (record["source"], record["reason"]) == ("producer", reason), record
    assert record["detail"]
    if reason in ("not_json", "oversized_frame", "unexpected_message"):
        assert record["raw"] == frame[: contracts.MAX_RAW_CHARS]
    else:
        assert record["raw"] == json.dumps(
            json.loads(frame)["data"][0], separators=(",", ":"), allow_nan=True
        )


def test_the_producer_stayed_up_and_counted_every_dead_letter(
    runtime: RuntimeSettings, bad_input_run: Run
) -> None:
    assert SENT, "run with the property test above"
    producer = bad_input_run.producer
    assert producer.alive()
    assert producer.metric("websocket_connected") == 1.0
    for reason, count in SENT.items():
        assert producer.metric("producer_validation_errors_total", reason=reason) == count, reason
        assert producer.metric("producer_dead_letters_total", reason=reason) == count, reason
    assert end_offsets(runtime.kafka_connection(), bad_input_run.trades_topic) == 0
