"""The local runtime: renders configs, runs the engines under supervisord, and waits until they are healthy.

Used by the Makefile (`python -m stack up|down|status|...`) and by the integration tests' session fixture.
"""
