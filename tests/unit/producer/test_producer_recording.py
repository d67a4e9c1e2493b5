"""The recording format: what the producer records, the simulator can replay byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.producer.recording import FrameRecorder, decode_line, encode_line, read_recording


def test_a_text_frame_is_stored_as_text_and_read_back_byte_for_byte() -> None:
    frame = b'{"type":"trade","data":[{"s":"IC MARKETS:1","p":1.1,"t":1,"v":0}]}'
    line = encode_line(1_700_000_000_000, frame)
    assert json.loads(line) == {"t_ms": 1_700_000_000_000, "frame": frame.decode()}
    assert decode_line(line).frame == frame


def test_a_frame_that_is_not_utf8_is_stored_as_base64_and_read_back() -> None:
    frame = b"\xff\xfe garbage"
    line = encode_line(5, frame)
    assert "frame_b64" in json.loads(line)
    assert decode_line(line).frame == frame


def test_the_recorder_appends_one_line_per_frame(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "session.jsonl"
    recorder = FrameRecorder(path)
    recorder.record(1, b'{"type":"ping"}')
    recorder.record(2, b"x", conn=3)
    recorder.close()
    assert [(f.t_ms, f.frame) for f in read_recording(path)] == [(1, b'{"type":"ping"}'), (2, b"x")]
    assert len(path.read_bytes().splitlines()) == 2


def test_a_bad_line_is_reported_with_its_file_and_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(encode_line(1, b"ok") + b'{"frame": "no time"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        list(read_recording(path))
