"""`python -m stack.airflow_cli trigger <dag_id> [--param NAME=VALUE ...]`: runs a DAG through Airflow's REST
API and waits for it. Behind `make trigger DAG=...` and `make reconcile START=... END=...`; prints the run's
final state and exits non-zero unless it succeeded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .airflow_api import AirflowApi, AirflowError
from .settings import RuntimeSettings

PROGRAM = "trigger"


def trigger(
    settings: RuntimeSettings, dag_id: str, timeout_s: float, conf: dict[str, Any] | None = None
) -> int:
    api = AirflowApi(settings)
    known = api.dag_ids()
    if dag_id not in known:
        print(f"error: no DAG {dag_id!r}; known DAGs: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    print(f"triggered {dag_id}; waiting up to {timeout_s:.0f} s (task logs: var/log/airflow/)", flush=True)
    state = api.run_to_completion(dag_id, timeout_s=timeout_s, conf=conf)
    print(f"{dag_id}: {state}")
    return 0 if state == "success" else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.airflow_cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("trigger", help="trigger a DAG run, wait for its end, print its state")
    run.add_argument("dag_id")
    run.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default 3600)")
    run.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a run parameter (repeatable)"
    )
    args = parser.parse_args(argv)
    conf = {}
    for param in args.param:
        name, separator, value = param.partition("=")
        if not separator or not name:
            parser.error(f"--param takes NAME=VALUE, got {param!r}")
        conf[name] = value
    settings = RuntimeSettings.load_or_exit(PROGRAM)
    try:
        return trigger(settings, args.dag_id, args.timeout, conf or None)
    except (AirflowError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
