"""Shared test setup: the local runtime's controller (deploy/local/stack) is importable as `stack`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
