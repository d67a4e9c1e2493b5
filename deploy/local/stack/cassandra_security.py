"""Cassandra's side of the secured runtime: the default superuser replaced, and least-privilege roles.

With PasswordAuthenticator, Cassandra creates the superuser `cassandra`/`cassandra` about 10 s after its
first start (when no role exists yet). `ensure_roles` logs in as it once, creates `pipeline_admin` (a
superuser with a generated password), then, as pipeline_admin, disables `cassandra` (no login, no
superuser, a random password) and creates the writer and reader roles. `ensure_grants` runs once the
keyspace exists (Airflow's bootstrap creates it, as pipeline_admin):

    pipeline_writer  SELECT, MODIFY on the trading keyspace (the Spark job; MODIFY includes TRUNCATE)
    pipeline_reader  SELECT on the trading keyspace (analysts, dashboards)
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from cassandra import AuthenticationFailed  # type: ignore[attr-defined]
from cassandra.cluster import NoHostAvailable, OperationTimedOut, Session

from services import contracts
from services.cassandra_session import CassandraConnection, cassandra_session

from .credentials import CASSANDRA_ADMIN, CASSANDRA_READER, CASSANDRA_WRITER

DEFAULT_SUPERUSER: Final = ("cassandra", "cassandra")
DEFAULT_SUPERUSER_WAIT_S: Final = 90
"""Cassandra creates its default superuser 10 s after start-up (superuser_setup_delay_ms); slow boxes more."""
GRANTS: Final = {CASSANDRA_WRITER: ("SELECT", "MODIFY"), CASSANDRA_READER: ("SELECT",)}


class CassandraSecurityError(Exception):
    """Roles could not be set up; the message says which step and what to check."""


def ensure_roles(
    node: CassandraConnection, passwords: Mapping[str, str], auth_replication_factor: int = 1
) -> None:
    """Makes pipeline_admin the superuser, disables `cassandra`, creates the writer and reader roles with
    the passwords of `passwords` (an existing role whose password differs gets it: passwords.json decides).
    On several nodes (`auth_replication_factor` > 1) the roles keyspace is first replicated to every node,
    so a login works while any one node is down (Cassandra 5.0 keeps system_auth on one replica)."""
    admin = replace(node, username=CASSANDRA_ADMIN.username, password=passwords[CASSANDRA_ADMIN.key])
    session = _connect_or_none(admin)
    if session is None:
        _create_admin_as_default_superuser(node, admin, auth_replication_factor)
        session = cassandra_session(admin)
    try:
        if auth_replication_factor > 1:
            session.execute(_replicate_auth(node, auth_replication_factor))
        default_role = session.execute(
            "SELECT is_superuser, can_login FROM system_auth.roles WHERE role = %s", (DEFAULT_SUPERUSER[0],)
        ).one()
        if default_role is not None and (default_role.is_superuser or default_role.can_login):
            disable = "WITH SUPERUSER = false AND LOGIN = false AND PASSWORD = %s"
            session.execute(f"ALTER ROLE {DEFAULT_SUPERUSER[0]} {disable}", (secrets.token_urlsafe(24),))
        for principal in GRANTS:
            password = passwords[principal.key]
            login = "WITH LOGIN = true AND PASSWORD = %s"
            exists = session.execute(
                "SELECT role FROM system_auth.roles WHERE role = %s", (principal.username,)
            )
            if exists.one() is None:
                session.execute(f"CREATE ROLE {principal.username} {login}", (password,))
            elif not _can_log_in(replace(node, username=principal.username, password=password)):
                # Set again only when it differs (passwords.json or the environment changed): Cassandra
                # refuses a second change of one role's password within 5 s.
                session.execute(f"ALTER ROLE {principal.username} {login}", (password,))
    except (NoHostAvailable, OperationTimedOut) as error:
        raise CassandraSecurityError(f"setting up Cassandra roles failed: {_reason(error)}") from None
    finally:
        session.cluster.shutdown()


def ensure_grants(
    node: CassandraConnection, passwords: Mapping[str, str], keyspace: str = contracts.KEYSPACE
) -> None:
    """Grants the writer and reader roles their rights on `keyspace` (granting twice changes nothing)."""
    admin = replace(node, username=CASSANDRA_ADMIN.username, password=passwords[CASSANDRA_ADMIN.key])
    session = cassandra_session(admin)
    try:
        for principal, permissions in GRANTS.items():
            for permission in permissions:
                session.execute(f"GRANT {permission} ON KEYSPACE {keyspace} TO {principal.username}")
    except (NoHostAvailable, OperationTimedOut) as error:
        raise CassandraSecurityError(f"granting on keyspace {keyspace} failed: {_reason(error)}") from None
    finally:
        session.cluster.shutdown()


def _connect_or_none(connection: CassandraConnection) -> Session | None:
    """A session as `connection`'s user, or None when Cassandra refuses its credentials."""
    try:
        return cassandra_session(connection)
    except NoHostAvailable as error:
        if any(isinstance(cause, AuthenticationFailed) for cause in error.errors.values()):
            return None
        raise


def _can_log_in(connection: CassandraConnection) -> bool:
    session = _connect_or_none(connection)
    if session is None:
        return False
    session.cluster.shutdown()
    return True


def _reason(error: Exception) -> str:
    causes = getattr(error, "errors", None)
    return "; ".join(str(cause) for cause in causes.values()) if causes else str(error)


def _replicate_auth(node: CassandraConnection, replication_factor: int) -> str:
    return (
        "ALTER KEYSPACE system_auth WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', '{node.local_dc}': {replication_factor}}}"
    )


def _create_admin_as_default_superuser(
    node: CassandraConnection, admin: CassandraConnection, auth_replication_factor: int = 1
) -> None:
    default = replace(node, username=DEFAULT_SUPERUSER[0], password=DEFAULT_SUPERUSER[1])
    deadline = time.monotonic() + DEFAULT_SUPERUSER_WAIT_S
    while True:
        session = _connect_or_none(default)
        if session is not None:
            break
        if time.monotonic() > deadline:
            raise CassandraSecurityError(
                f"neither {CASSANDRA_ADMIN.username} nor the default superuser can log in after "
                f"{DEFAULT_SUPERUSER_WAIT_S} s: was var/secrets/passwords.json replaced? "
                "(docs/deployment.md, Rotation)"
            )
        time.sleep(2)
    try:
        if auth_replication_factor > 1:  # before the admin role is written: it lands on every node
            session.execute(_replicate_auth(node, auth_replication_factor))
        superuser = "WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = %s"
        session.execute(f"CREATE ROLE IF NOT EXISTS {admin.username} {superuser}", (admin.password,))
    finally:
        session.cluster.shutdown()
    logging.getLogger(__name__).info("event=cassandra_admin_created role=%s", admin.username)
