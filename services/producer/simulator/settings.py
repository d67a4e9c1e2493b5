"""The simulator's configuration: one typed class read from SIMULATOR_* environment variables.

Checked before the server binds; a bad value exits with one line on stderr and status 2 (the project's one
settings base, `services.configuration.PipelineSettings`). Fault options are 0 (off) unless set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, SecretStr, field_validator

from services import contracts
from services.configuration import PipelineSettings


class SimulatorSettings(PipelineSettings):
    """Every setting of `python -m services.producer.simulator`; field names are the env vars, lower-cased."""

    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(
        contracts.SIMULATOR_PORT, ge=0, le=65535
    )  # 0: any free port (logged at start)
    simulator_token: SecretStr | None = None  # when set, a handshake without this token gets HTTP 401
    simulator_seed: int = 1
    simulator_rate: float = Field(100.0, ge=0, le=1_000_000)  # trades per second, all connections together
    simulator_symbol_limit: int = Field(50, ge=1)
    simulator_ping_seconds: float = Field(60.0, gt=0)
    simulator_tick_seconds: float = Field(0.01, gt=0, le=1)
    simulator_max_trades: int = Field(0, ge=0)  # finite run: this many trades in all, then only pings
    simulator_max_trades_per_frame: int = Field(1000, ge=1)
    simulator_burst_probability: float = Field(0.05, ge=0, le=1)  # chance per second that a burst starts
    simulator_burst_multiplier: float = Field(5.0, ge=1)
    simulator_burst_seconds: float = Field(1.0, ge=0)
    simulator_replay_file: FilePath | None = None
    simulator_replay_speed: float = Field(1.0, ge=0)  # 1 = recorded pace, 10 = ten times faster, 0 = at once
    simulator_replay_retime: bool = False  # shift replayed trade times so the recording starts now
    simulator_sent_log: Path | None = None  # JSON lines of every frame sent (the recording format)
    simulator_drop_every_frames: int = Field(0, ge=0)
    simulator_drop_after_seconds: float = Field(0.0, ge=0)
    simulator_repeat_every_frames: int = Field(0, ge=0)
    simulator_garbage_every_frames: int = Field(0, ge=0)
    simulator_silence_after_seconds: float = Field(0.0, ge=0)
    simulator_silence_seconds: float = Field(30.0, gt=0)
    simulator_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("simulator_log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def token(self) -> str | None:
        """The expected token, or None when any (or no) token is accepted."""
        return self.simulator_token.get_secret_value() if self.simulator_token else None
