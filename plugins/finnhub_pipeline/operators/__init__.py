"""Operators: check their arguments in `execute`, delegate the work to a hook (or to a class built on one:
`migrations.CqlMigrator`, `backup.KeyspaceBackup`, `ttl_sampling.TtlSampler`), return a summary as XCom."""
