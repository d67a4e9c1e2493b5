"""A Finnhub-protocol WebSocket server on loopback, for running and testing the producer without Finnhub.

Run it with `python -m services.producer.simulator`; see services/producer/README.md for its settings,
its control endpoint and how a test learns exactly what it sent.
"""
