"""`python -m stack.airflow_cli trigger <dag_id>`: runs a DAG through Airflow's REST API and waits for it.

Behind `make trigger DAG=...`; prints the run's final state and exits non-zero unless it succeeded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .airflow_api import AirflowApi, AirflowError
from .settings import RuntimeSettings

PROGRAM = "trigger"


def trigger(settings: RuntimeSettings, dag_id: str, timeout_s: float) -> int:
    api = AirflowApi(settings)
    known = api.dag_ids()
    if dag_id not in known:
        print(f"error: no DAG {dag_id!r}; known DAGs: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    print(f"triggered {dag_id}; waiting up to {timeout_s:.0f} s (task logs: var/log/airflow/)", flush=True)
    state = api.run_to_completion(dag_id, timeout_s=timeout_s)
    print(f"{dag_id}: {state}")
    return 0 if state == "success" else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.airflow_cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("trigger", help="trigger a DAG run, wait for its end, print its state")
    run.add_argument("dag_id")
    run.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default 3600)")
    args = parser.parse_args(argv)
    settings = RuntimeSettings.load_or_exit(PROGRAM)
    try:
        return trigger(settings, args.dag_id, args.timeout)
    except (AirflowError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
