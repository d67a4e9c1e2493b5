"""The plugin is shaped like a provider package: every class named ...Hook is an Airflow hook bound to one of
the pipeline's connection ids, and hooks live in hooks/ only."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from airflow.sdk import BaseHook

import finnhub_pipeline
from finnhub_pipeline import connections


def test_every_hook_is_a_base_hook_on_a_pipeline_connection_and_lives_in_hooks() -> None:
    hooks = []
    for module_info in pkgutil.walk_packages(finnhub_pipeline.__path__, "finnhub_pipeline."):
        module = importlib.import_module(module_info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and name.endswith("Hook"):
                hooks.append(cls)
                assert module.__name__.startswith("finnhub_pipeline.hooks."), f"{name} outside hooks/"
                assert issubclass(cls, BaseHook), f"{name} is not an Airflow hook"
                assert getattr(cls, "default_conn_name", None) in {
                    connections.KAFKA_CONN_ID,
                    connections.CASSANDRA_CONN_ID,
                }, f"{name} is bound to no pipeline connection"
    assert {cls.__name__ for cls in hooks} == {
        "PipelineCassandraHook",
        "NodetoolHook",
        "KafkaTopicsHook",
        "KafkaRecordsHook",
    }
