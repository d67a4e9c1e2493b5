"""From frame bytes to the Kafka records to produce: parse, drop repeated trade frames, encode.

Pure apart from its dedupe memory; the service loop gives it each frame and the receive time and sends what
comes back. Metrics are counted by the loop from the returned ProcessedFrame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.producer.dedupe import FrameDeduplicator
from services.producer.frames import FrameKind, FrameOutcome, ValidationRules, parse_frame
from services.producer.records import KafkaRecord, dead_letter_record, trade_messages


@dataclass(slots=True)
class ProcessedFrame:
    """A frame's outcome and the records it yields (none for pings, errors and duplicates).

    `trade_messages[i]` is the Kafka message of `outcome.trades[i]`, for `trades_topic`, in the form
    `Producer.produce_batch` takes; `dead_letter_records[i]` is the record of `outcome.dead_letters[i]`.
    """

    outcome: FrameOutcome
    trades_topic: str
    duplicate: bool = False
    trade_messages: list[dict[str, bytes]] = field(default_factory=list)
    dead_letter_records: list[KafkaRecord] = field(default_factory=list)


class FrameProcessor:
    """Turns frames into records for one replica's symbols and topics."""

    def __init__(
        self,
        rules: ValidationRules,
        deduplicator: FrameDeduplicator,
        trades_topic: str,
        dead_letter_topic: str,
    ) -> None:
        self.rules = rules
        self.deduplicator = deduplicator
        self.trades_topic = trades_topic
        self.dead_letter_topic = dead_letter_topic

    def process(self, frame: bytes, received_at_ms: int, now_s: float) -> ProcessedFrame:
        """The records for `frame`, received at `received_at_ms` (epoch) and `now_s` (monotonic)."""
        outcome = parse_frame(frame, received_at_ms, self.rules)
        # Only trade frames: pings and errors are byte-identical every time and must all be counted.
        if outcome.kind is FrameKind.TRADE and self.deduplicator.is_duplicate(outcome.digest, now_s):
            return ProcessedFrame(outcome, self.trades_topic, duplicate=True)
        return ProcessedFrame(
            outcome,
            self.trades_topic,
            trade_messages=trade_messages(outcome.trades),
            dead_letter_records=[
                dead_letter_record(dead, self.dead_letter_topic) for dead in outcome.dead_letters
            ],
        )
