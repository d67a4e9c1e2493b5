"""The producer's configuration: one typed class read from environment variables, checked before any I/O.

A bad value stops the program with one line on stderr naming the variable and the reason, exit code 2,
never echoing the API key (`ProducerSettings.load_or_exit`, the project's one settings base).
"""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from services import contracts
from services.kafka_options import KafkaClientSettings
from services.producer.symbols import parse_symbols

FINNHUB_URL = "wss://ws.finnhub.io"
SIMULATOR_URL = f"ws://127.0.0.1:{contracts.SIMULATOR_PORT}"
DEFAULT_SYMBOLS = "AAPL,GOOGL,MSFT,AMZN,TSLA,BINANCE:BTCUSDT,BINANCE:ETHUSDT"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Compression = Literal["lz4", "zstd", "snappy", "gzip", "none"]


class ProducerSettings(KafkaClientSettings):
    """Every setting of `python -m services.producer`; field names are the env vars, lower-cased (the Kafka
    connection's come from `KafkaClientSettings`)."""

    finnhub_api_key: SecretStr | None = None
    finnhub_ws_url: str | None = None
    symbols: Annotated[tuple[str, ...], NoDecode] = parse_symbols(DEFAULT_SYMBOLS)
    trades_topic: str = Field(contracts.TRADES_TOPIC, min_length=1)
    dead_letter_topic: str = Field(contracts.DEAD_LETTER_TOPIC, min_length=1)
    # This replica's share of SYMBOLS: index i of count n (services/producer/README.md, "Sharding"). Unset,
    # the index is 0 only for a lone replica: with n > 1 a replica that does not know its index refuses to
    # start rather than subscribe to replica 0's symbols a second time (every trade twice in Kafka).
    producer_replica_index: int = Field(0, ge=0)
    producer_replica_count: int = Field(1, ge=1)
    producer_metrics_host: str = "0.0.0.0"
    producer_metrics_port: int = Field(contracts.PRODUCER_METRICS_PORT, ge=1, le=65535)
    producer_watchdog_seconds: float = Field(180.0, gt=0)
    producer_dedupe_window_seconds: float = Field(300.0, ge=0)
    producer_dedupe_max_frames: int = Field(10_000, ge=0)
    producer_max_frame_bytes: int = Field(1_048_576, ge=1024)
    producer_trade_max_future_seconds: float = Field(300.0, ge=0)
    producer_trade_max_age_seconds: float = Field(7 * 24 * 3600.0, gt=0)
    producer_buffer_max_messages: int = Field(500_000, ge=1, le=2_147_483_647)
    producer_buffer_max_kbytes: int = Field(262_144, ge=1, le=2_147_483_647)
    producer_kafka_compression: Compression = "lz4"
    producer_kafka_linger_ms: int = Field(20, ge=0, le=900_000)
    producer_kafka_batch_size: int = Field(262_144, ge=1, le=2_147_483_647)
    producer_kafka_delivery_timeout_ms: int = Field(300_000, ge=1000)
    producer_backoff_initial_seconds: float = Field(1.0, gt=0)
    producer_backoff_max_seconds: float = Field(60.0, gt=0)
    producer_backoff_reset_seconds: float = Field(30.0, ge=0)
    producer_connect_timeout_seconds: float = Field(10.0, gt=0)
    producer_shutdown_flush_seconds: float = Field(10.0, ge=0)
    producer_record_file: Path | None = None
    producer_log_level: LogLevel = "INFO"

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object) -> object:
        return parse_symbols(value) if isinstance(value, str) else value

    @field_validator("finnhub_api_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(c.isspace() or c in "&#?/" for c in value.get_secret_value()):
            raise ValueError("contains a blank or one of & # ? / (an API key is letters and digits)")
        return value

    @field_validator("producer_log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _index_known_when_sharded(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("producer_replica_index") not in (None, ""):
            return data
        try:
            count = int(data.get("producer_replica_count") or 1)
        except (TypeError, ValueError):
            return data  # the field's own check names the bad count
        if count > 1:
            raise ValueError(
                f"PRODUCER_REPLICA_INDEX is not set while PRODUCER_REPLICA_COUNT={count}: a replica must"
                f" know which share of SYMBOLS is its own (0 to {count - 1}), or it would duplicate another's"
                " trades"
            )
        return data

    @model_validator(mode="after")
    def _check_together(self) -> ProducerSettings:
        if self.producer_replica_index >= self.producer_replica_count:
            raise ValueError(
                f"PRODUCER_REPLICA_INDEX ({self.producer_replica_index}) must be below "
                f"PRODUCER_REPLICA_COUNT ({self.producer_replica_count})"
            )
        if self.producer_replica_count > len(self.symbols):
            raise ValueError(
                f"PRODUCER_REPLICA_COUNT ({self.producer_replica_count}) exceeds the"
                f" {len(self.symbols)} SYMBOLS: some replica would have nothing to subscribe to"
            )
        if self.producer_backoff_max_seconds < self.producer_backoff_initial_seconds:
            raise ValueError("PRODUCER_BACKOFF_MAX_SECONDS must be >= PRODUCER_BACKOFF_INITIAL_SECONDS")
        url = self.finnhub_ws_url or (FINNHUB_URL if self.finnhub_api_key else SIMULATOR_URL)
        check_ws_url(url, sending_key=self.finnhub_api_key is not None)
        object.__setattr__(self, "finnhub_ws_url", url)
        return self

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint without the token (resolved: never None after validation)."""
        assert self.finnhub_ws_url is not None
        return self.finnhub_ws_url


def check_ws_url(url: str, sending_key: bool) -> None:
    """Raise ValueError (naming FINNHUB_WS_URL) when `url` is unusable or would leak the key."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"FINNHUB_WS_URL must be ws://host[:port] or wss://host[:port], got {url[:100]!r}")
    if "token" in parse_qs(parts.query):
        raise ValueError("FINNHUB_WS_URL must not carry a token: put the key in FINNHUB_API_KEY")
    if sending_key and parts.scheme == "ws" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"FINNHUB_WS_URL is unencrypted ws:// to {parts.hostname}: refusing to send FINNHUB_API_KEY there"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
