"""Turning rendered template values (strings) into checked numbers, with errors that name the argument."""

from __future__ import annotations

import os


def as_int(name: str, value: object, minimum: int | None = None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def from_env(name: str, value: object, env: str, default: int, minimum: int = 1) -> int:
    """`value` when given, else the environment variable `env` (read at run time, never at parse time)."""
    if value is None or value == "":
        return as_int(env, os.environ.get(env, str(default)), minimum)
    return as_int(name, value, minimum)
