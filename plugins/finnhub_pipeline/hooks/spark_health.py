"""The streaming job seen from outside: its Prometheus metrics endpoint and its spark-submit processes.

Scraping returns text for `stream_health.parse_metrics`; `kill` ends the spark-submit JVM of the job (found
by the application path on its command line and, when given, its checkpoint: other runs of the same job,
a benchmark's or a test's, are left alone), which makes the SparkSubmitOperator task fail and retry.
"""

from __future__ import annotations

import logging
import signal
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from jobs.spark_stream.job_process import job_processes

log = logging.getLogger(__name__)

SPARK_SUBMIT_CLASS = "org.apache.spark.deploy.SparkSubmit"


class SparkStreamProcessHook:
    def __init__(
        self, metrics_url: str, application: str, timeout_s: float = 10, checkpoint: str | None = None
    ) -> None:
        self.metrics_url = metrics_url
        self.application = application
        self.timeout_s = timeout_s
        self.checkpoint = checkpoint

    def scrape(self) -> str | None:
        """The metrics page, or None when nothing answers (the job is starting, stopped or between tries)."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=self.timeout_s) as response:
                return str(response.read().decode("utf-8"))
        except (urllib.error.URLError, OSError) as error:
            log.info("event=stream_metrics_unavailable url=%s error=%s", self.metrics_url, error)
            return None

    def submit_processes(self) -> list[psutil.Process]:
        """spark-submit JVMs whose command line carries this job's application path (and that write its
        checkpoint, when one is set)."""
        if self.checkpoint:
            return [p for p in job_processes(Path(self.checkpoint)) if self.application in p.info["cmdline"]]
        found = []
        for process in psutil.process_iter(["pid", "cmdline"]):
            cmdline = process.info.get("cmdline") or []
            if SPARK_SUBMIT_CLASS in cmdline and self.application in cmdline:
                found.append(process)
        return found

    def kill(self, grace_s: float = 30) -> list[int]:
        """SIGTERM (Spark's shutdown hooks stop the query), then SIGKILL after `grace_s`; returns the pids."""
        processes = self.submit_processes()
        for process in processes:
            log.warning(
                "event=stream_kill pid=%d signal=SIGTERM application=%s", process.pid, self.application
            )
            try:
                process.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                log.info("event=stream_already_gone pid=%d", process.pid)
        _, alive = psutil.wait_procs(processes, timeout=grace_s)
        for process in alive:
            log.warning("event=stream_kill pid=%d signal=SIGKILL after=%.0fs", process.pid, grace_s)
            try:
                process.kill()
            except psutil.NoSuchProcess:
                log.info("event=stream_already_gone pid=%d", process.pid)
        return [process.pid for process in processes]
