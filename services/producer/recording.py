"""The frame-recording format: one JSON line per raw server frame, written by the producer, replayed by
the simulator.

A line is `{"t_ms": <receive time, epoch ms>, "frame": "<frame as text>"}`; a frame that is not valid UTF-8
is stored as `{"t_ms": ..., "frame_b64": "<base64 of its bytes>"}`. Other keys are allowed and ignored
(the simulator's sent log adds `conn` and `fault`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One frame of a recording, as bytes, with the time it was received or sent."""

    t_ms: int
    frame: bytes


def encode_line(t_ms: int, frame: bytes, **extra: Any) -> bytes:
    """One recording line (with its newline) for `frame`."""
    entry: dict[str, Any] = {"t_ms": t_ms}
    try:
        entry["frame"] = frame.decode("utf-8")
    except UnicodeDecodeError:
        entry["frame_b64"] = base64.b64encode(frame).decode("ascii")
    entry.update(extra)
    return orjson.dumps(entry) + b"\n"


def decode_line(line: bytes) -> RecordedFrame:
    """The frame a recording line holds. Raises ValueError when the line is not in the format."""
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not a JSON line: {exc}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("t_ms"), int):
        raise ValueError("expected an object with an integer t_ms")
    if isinstance(entry.get("frame"), str):
        return RecordedFrame(entry["t_ms"], entry["frame"].encode("utf-8"))
    if isinstance(entry.get("frame_b64"), str):
        return RecordedFrame(entry["t_ms"], base64.b64decode(entry["frame_b64"], validate=True))
    raise ValueError("expected a string frame or frame_b64")


def read_recording(path: Path) -> Iterator[RecordedFrame]:
    """The frames of a recording file, in order. Raises ValueError naming the file and line of a bad line."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield decode_line(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None


class FrameRecorder:
    """Appends every raw frame to a recording file, one flushed line each."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[bytes] = path.open("ab")

    def record(self, t_ms: int, frame: bytes, **extra: Any) -> None:
        self._file.write(encode_line(t_ms, frame, **extra))
        self._file.flush()

    def close(self) -> None:
        self._file.close()
