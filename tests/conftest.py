"""Shared test setup. The project is installed into .venv (editable), so every package imports as it does in
production: `services`, `jobs`, `finnhub_pipeline`, `stack` and `testkit`."""
