"""The Finnhub trade WebSocket → Kafka producer, and the Finnhub-protocol simulator it can run against.

Run the service with `python -m services.producer` and the simulator with
`python -m services.producer.simulator`; see README.md in this folder.
"""
