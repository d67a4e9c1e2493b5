"""Audits retention: each table's default TTL against policy and sampled rows' TTL and write time.

Findings go to the task log (one line each), to StatsD through Airflow's `Stats`, and to XCom; any finding
fails the run with `TtlViolationError`. Keyspace, tables and policy are parameters (tests use a fresh
keyspace).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.observability.stats import Stats

from finnhub_pipeline import ttl_policy
from finnhub_pipeline.connections import CASSANDRA_CONN_ID
from finnhub_pipeline.exceptions import TtlViolationError
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.operators._arguments import as_int
from finnhub_pipeline.ttl_policy import TtlFinding
from finnhub_pipeline.ttl_sampling import TtlSampler
from services import contracts


class TtlAuditOperator(BaseOperator):
    """Returns `{"sampled": {table: n}, "violations": {table: {rule: n}}}` when there is no violation.

    :param policy: table -> required TTL in seconds (default `ttl_policy.POLICY_SECONDS`)
    :param probe_columns: table -> the column whose TTL stands for the row
        (default `ttl_policy.PROBE_COLUMNS`)
    :param sample_size: rows sampled per table (template)
    """

    template_fields: Sequence[str] = ("keyspace", "sample_size")

    def __init__(
        self,
        *,
        keyspace: str = contracts.KEYSPACE,
        policy: Mapping[str, int] | None = None,
        probe_columns: Mapping[str, str] | None = None,
        sample_size: int | str = 1000,
        cassandra_conn_id: str = CASSANDRA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keyspace = keyspace
        self.policy = dict(policy) if policy is not None else dict(ttl_policy.POLICY_SECONDS)
        self.probe_columns = (
            dict(probe_columns) if probe_columns is not None else dict(ttl_policy.PROBE_COLUMNS)
        )
        self.sample_size = sample_size
        self.cassandra_conn_id = cassandra_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        if not str(self.keyspace).isidentifier():
            raise ValueError(f"keyspace must be a plain CQL identifier, got {self.keyspace!r}")
        if not self.policy or any(seconds <= 0 for seconds in self.policy.values()):
            raise ValueError(f"policy must map tables to positive TTL seconds, got {self.policy}")
        sample_size = as_int("sample_size", self.sample_size, 1)
        findings: list[TtlFinding] = []
        sampled: dict[str, int] = {}
        with PipelineCassandraHook(self.cassandra_conn_id) as cassandra:
            sampler = TtlSampler(cassandra, self.keyspace)
            for table, policy_s in sorted(self.policy.items()):
                findings += ttl_policy.table_findings(table, sampler.default_ttl(table), policy_s)
                cells = sampler.sample(table, sample_size, self.probe_columns.get(table))
                sampled[table] = len(cells)
                findings += ttl_policy.row_findings(table, cells, policy_s, time.time())
        counts = ttl_policy.summarize(findings)
        for table in sorted(self.policy):
            violations = sum(counts.get(table, {}).values())
            Stats.gauge(f"ttl_audit.{self.keyspace}.{table}.rows_sampled", sampled[table])
            Stats.gauge(f"ttl_audit.{self.keyspace}.{table}.violations", violations)
            self.log.info(
                "event=ttl_audit table=%s.%s sampled=%d violations=%d",
                self.keyspace,
                table,
                sampled[table],
                violations,
            )
        for finding in findings:
            self.log.error(
                "event=ttl_violation table=%s.%s rule=%s %s",
                self.keyspace,
                finding.table,
                finding.rule,
                finding.detail,
            )
        if findings:
            shown = "\n  ".join(f"{f.table}: {f.rule}: {f.detail}" for f in findings[:20])
            more = f"\n  ... and {len(findings) - 20} more" if len(findings) > 20 else ""
            raise TtlViolationError(
                f"TTL audit of keyspace {self.keyspace} found {len(findings)} violation(s) "
                f"{counts}:\n  {shown}{more}"
            )
        return {"keyspace": self.keyspace, "sampled": sampled, "violations": counts}
