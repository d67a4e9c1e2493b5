"""How the tests and benchmarks hand a connection to a program they start (the producer, the Spark job): as
the files of a PIPELINE_SECRETS_DIR folder, the way the secured runtime does, so a password never goes into
an environment variable or a command line, and the same code serves plaintext and secured stacks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from services.configuration import SECRETS_DIR_VARIABLE


def settings_folder(folder: Path, *settings: Mapping[str, str]) -> dict[str, str]:
    """Writes each setting (field name -> value, e.g. `KafkaConnection.as_settings()`) as a 0600 file in
    `folder`; returns the environment that points a program at it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for values in settings:
        for name, value in values.items():
            path = folder / name
            path.touch(mode=0o600)
            path.write_text(value, encoding="utf-8")
    return {SECRETS_DIR_VARIABLE: str(folder)}
