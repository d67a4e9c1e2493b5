"""Command line of the local runtime: `python -m stack up|down|status|wait|nodetool|kafka-topics|cql`.

Every failure ends with one line naming the service and its log file, and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from finnhub_pipeline.dag_defaults import MAINTENANCE_DAG_IDS
from services import layout
from services.configuration import ConfigError, exit_on_config_error

from . import (
    cassandra_security,
    control_plane,
    credentials,
    engines,
    health,
    kafka_security,
    pipeline,
    pki,
    render,
    security,
    tools,
)
from .airflow_api import BOOTSTRAP_DAG, STREAM_DAG, AirflowApi, AirflowError, admin_password
from .settings import (
    ROOT,
    RuntimeSettings,
    load_settings,
    record_running_shape,
    running_shape,
    running_topology_file,
)
from .supervisor import Supervisor

BAD_STATES = {"FATAL", "EXITED", "STOPPED", "UNKNOWN"}
TOOLS = {"nodetool": tools.nodetool, "kafka-topics": tools.kafka_topics, "cql": tools.cqlsh}


class StartError(Exception):
    """A service did not become healthy; the message names it and its log file."""


def _supervisor(settings: RuntimeSettings) -> Supervisor:
    return Supervisor(settings.var_dir / "run" / "supervisord.conf")


def _log(settings: RuntimeSettings, name: str) -> str:
    path = layout.program_log(name, settings.var_dir)
    try:
        return str(path.relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def _say(message: str) -> None:
    print(message, flush=True)


def wait_healthy(settings: RuntimeSettings, pending_engines: Sequence[engines.Engine]) -> None:
    """Waits until every engine answers its probe, printing progress; raises StartError on a failure."""
    supervisor = _supervisor(settings)
    pending = list(pending_engines)
    started = time.monotonic()
    last_report = 0.0
    while pending:
        states = supervisor.programs()
        for engine in list(pending):
            try:
                engine.probe(settings)
            except health.Unhealthy as exc:
                state = states.get(engine.name)
                waited = time.monotonic() - started
                if state is not None and state.state in BAD_STATES:
                    raise StartError(
                        f"{engine.name} is {state.state} (not running); see {_log(settings, engine.name)}"
                    ) from None
                if waited > engine.start_timeout_s:
                    raise StartError(
                        f"{engine.name} not healthy after {waited:.0f} s ({exc}); "
                        f"see {_log(settings, engine.name)}"
                    ) from None
                continue
            pending.remove(engine)
            _say(f"  {engine.name:<22} healthy after {time.monotonic() - started:5.1f} s")
        if pending and time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            waiting = ", ".join(e.name for e in pending)
            _say(f"  waiting for {waiting} ({time.monotonic() - started:.0f} s)")
        if pending:
            time.sleep(0.5)


def _start_group(settings: RuntimeSettings, group: str) -> None:
    members = engines.in_group(group, settings)
    if not members:
        return
    _say(f"starting the {group}: {', '.join(e.name for e in members)}")
    supervisor = _supervisor(settings)
    supervisor.stop_programs(
        engines.unwanted_in_group(group, settings)
    )  # e.g. the simulator once FINNHUB_API_KEY is set
    supervisor.start_programs([e.name for e in members])
    wait_healthy(settings, members)


def _bootstrap_once(settings: RuntimeSettings) -> None:
    """Runs the pipeline_bootstrap DAG through Airflow on the first `up` of a topology (topics, schema), once:
    the cluster's brokers and nodes have their own topics and keyspace (var/cluster/airflow/bootstrapped)."""
    marker = settings.state_dir / "airflow" / "bootstrapped"
    marker.parent.mkdir(parents=True, exist_ok=True)
    if marker.exists():
        return
    _say(f"running DAG {BOOTSTRAP_DAG} once (Kafka topics, Cassandra schema)...")
    api = AirflowApi(settings)
    state = api.run_to_completion(BOOTSTRAP_DAG, timeout_s=600)
    if state != "success":
        raise StartError(
            f"DAG {BOOTSTRAP_DAG} ended {state}; see its task logs in the Airflow UI or var/log/airflow/"
        )
    marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _unpause_maintenance_once(settings: RuntimeSettings) -> None:
    """Unpauses each maintenance DAG the first time `up` sees it (backup, compaction, TTL audit,
    reconciliation), so they run on their schedules without anyone opening the UI; one paused later by hand
    stays paused. The ids already unpaused are kept in var/airflow/maintenance-unpaused."""
    marker = settings.var_dir / "airflow" / "maintenance-unpaused"
    done = set(marker.read_text().split()) if marker.exists() else set()
    pending = [
        dag for dag in MAINTENANCE_DAG_IDS if dag not in done and (ROOT / "dags" / f"{dag}.py").exists()
    ]
    if not pending:
        return
    api = AirflowApi(settings)
    for dag_id in pending:
        api.wait_for_dag(dag_id, timeout_s=300)
        api.set_paused(dag_id, False)
        done.add(dag_id)
        marker.write_text("\n".join(sorted(done)) + "\n")
    _say(
        f"unpaused the maintenance DAGs {', '.join(pending)}: each runs on its schedule (README, Maintenance)"
    )


def down(var_dir: Path) -> None:
    """Stops every service of the running stack, whatever its topology, then supervisord."""
    Supervisor(var_dir / "run" / "supervisord.conf").shutdown()
    running_topology_file(var_dir).unlink(missing_ok=True)
    _say("stopped every service")


def _switch_topology(settings: RuntimeSettings) -> None:
    """A stack of the other topology is running: stop all of it first (its Kafka listens on this one's
    addresses and ports), keeping its data for the next switch back."""
    running = running_shape(settings.var_dir).get("topology", "single")
    supervisor = _supervisor(settings)
    if running != settings.topology and supervisor.is_running():
        _say(f"stopping the running TOPOLOGY={running} stack first (its data stays in var/)...")
        supervisor.shutdown()
    record_running_shape(settings)


def up(settings: RuntimeSettings) -> None:
    started = time.monotonic()
    # First, before anything starts or changes: certificates and passwords (ENABLE_SSL), or one line.
    passwords = security.preflight(settings)
    _switch_topology(settings)
    if passwords is not None:
        _prepare_switch_to_ssl(settings, passwords)
    control_plane.write_environment(settings, Path(sys.executable).parent)
    pipeline.write_environment(settings)
    security.write_client_files(settings, passwords)  # before rendering: their digests restart programs
    conf = render.render_all(settings)
    if tools.format_kafka_storage(settings, passwords):
        _say("  formatted Kafka storage (KRaft, first start)")
    _supervisor(settings).start()
    if settings.cluster:
        _say(
            f"TOPOLOGY=cluster: {len(settings.kafka_hosts)} Kafka brokers, {len(settings.cassandra_hosts)} "
            f"Cassandra nodes, a Spark master and {settings.spark_workers} workers, "
            f"{settings.producer_replicas} producer replicas (state in {settings.state_dir})"
        )
    _say("waiting for the engines to answer health checks...")
    wait_healthy(settings, engines.in_group(engines.CORE, settings))
    if passwords is not None:
        security.after_kafka(settings, passwords)
        security.after_cassandra(settings, passwords)
        _say("  secured: Kafka users and ACLs, Cassandra roles in place (ENABLE_SSL=true)")

    if engines.in_group(engines.CONTROL_PLANE, settings):
        _say("migrating Airflow's metadata database...")
        control_plane.migrate_database(
            settings, settings.var_dir / "run" / "airflow" / "airflow.env", Path(sys.executable).parent
        )
        _start_group(settings, engines.CONTROL_PLANE)
        if (ROOT / "dags" / f"{BOOTSTRAP_DAG}.py").exists():
            _bootstrap_once(settings)
        if passwords is not None:
            security.after_bootstrap(settings, passwords)  # the keyspace exists now: the roles' grants
    _start_group(settings, engines.PIPELINE)
    if (ROOT / "dags" / f"{STREAM_DAG}.py").exists():
        AirflowApi(settings).set_paused(STREAM_DAG, False)
        _say(f"unpaused DAG {STREAM_DAG}: Airflow submits and supervises the Spark job")
    if engines.in_group(engines.CONTROL_PLANE, settings):
        _unpause_maintenance_once(settings)

    _say(f"all services healthy in {time.monotonic() - started:.1f} s (supervisor config: {conf})")
    status(settings, probe=False)
    password_note = settings.var_dir / "airflow" / "password-shown"
    password = admin_password(settings)
    if password and not password_note.exists():
        _say(f"Airflow UI: http://127.0.0.1:{settings.airflow_port}  user admin, password {password}")
        kept = settings.var_dir / "airflow" / "simple_auth_manager_passwords.json.generated"
        _say(f"  (shown once; kept in {kept})")
        password_note.touch()
    _say("logs: make logs-<service> (files in var/log/); stop: make down")


def _prepare_switch_to_ssl(settings: RuntimeSettings, passwords: Mapping[str, str]) -> None:
    """A plaintext stack switching to ENABLE_SSL: Kafka's storage has no SCRAM users yet, so the broker's and
    the admin's are created over the plaintext listener before the broker restarts secured (starting the
    old, plaintext stack first if it is down). Nothing to do on a fresh machine or an already secured one."""
    if not (tools.kafka_storage_formatted(settings) and security.rendered_plaintext(settings)):
        return
    _say(
        "switching to ENABLE_SSL=true: creating Kafka's broker and admin users over the plaintext listener..."
    )
    _supervisor(settings).start()  # with the configs rendered last time: plaintext
    deadline = time.monotonic() + 180
    while True:
        try:
            security.prepare_kafka_switch(settings, passwords, running_plaintext=True)
            return
        except kafka_security.KafkaSecurityError as error:
            if time.monotonic() > deadline:
                raise StartError(f"kafka: {error}; see {_log(settings, 'kafka')}") from None
            time.sleep(3)


def status(settings: RuntimeSettings, probe: bool = True) -> bool:
    states = _supervisor(settings).programs()
    rows = [("SERVICE", "STATE", "PID", "PORT", "HEALTH", "ROLE", "URL")]
    all_ok = True
    for engine in engines.wanted(settings):
        state = states.get(engine.name)
        verdict = "ok"
        if probe:
            try:
                engine.probe(settings)
            except health.Unhealthy as exc:
                verdict, all_ok = f"down: {exc}"[:60], False
        rows.append(
            (
                engine.name,
                state.state if state else "-",
                str(state.pid) if state and state.pid else "-",
                str(engine.port(settings)),
                verdict,
                engine.role,
                engine.url(settings),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        _say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return all_ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="render configs, start supervisord and every service, wait until healthy")
    sub.add_parser("down", help="stop every service cleanly, then supervisord")
    sub.add_parser("status", help="a table of services: state, pid, port, health")
    wait = sub.add_parser("wait", help="wait until the named services (default: all) are healthy")
    wait.add_argument("services", nargs="*")
    for tool in TOOLS:
        sub.add_parser(
            tool, help=f"run {tool} against the local engine; the rest of the line is its arguments"
        )
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:  # the engine tool parses its own flags
        args, tool_args = parser.parse_args(argv[:1]), argv[1:]
    else:
        args, tool_args = parser.parse_args(argv), []

    try:
        # `up` starts what the settings say; every other command talks to the stack that is running.
        settings = load_settings(follow_running=args.command != "up")
    except ConfigError as error:
        if args.command != "down":
            exit_on_config_error("stack", error)
        # Stopping needs no valid configuration: only where supervisord runs.
        print(f"stack: invalid configuration: {error}; stopping what runs anyway", file=sys.stderr)
        down(Path(os.environ.get("VAR_DIR") or layout.DEFAULT_VAR_DIR))
        return 0
    try:
        if args.command == "up":
            up(settings)
        elif args.command == "down":
            down(settings.var_dir)
        elif args.command == "status":
            return 0 if status(settings) else 1
        elif args.command == "wait":
            wait_healthy(
                settings,
                [engines.by_name(name, settings) for name in args.services] or engines.wanted(settings),
            )
        else:
            if args.command == "nodetool" and tool_args[:1] == ["--node"] and len(tool_args) > 1:
                command = tools.nodetool(settings, *tool_args[2:], node=int(tool_args[1]))
            else:
                command = TOOLS[args.command](settings, *tool_args)
            os.execvp(command[0], command)
    except (pki.PkiError, credentials.CredentialsError) as error:
        # A certificate, key or password file: a configuration error, caught before anything started.
        exit_on_config_error("stack", ConfigError(str(error)))
    except (
        render.MissingArtifactError,
        StartError,
        AirflowError,
        kafka_security.KafkaSecurityError,
        cassandra_security.CassandraSecurityError,
        RuntimeError,
        KeyError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
