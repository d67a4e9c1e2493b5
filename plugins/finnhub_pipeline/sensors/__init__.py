"""Sensors: watch the streaming job while it runs."""
