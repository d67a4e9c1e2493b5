"""Long-running services of the pipeline: the Finnhub producer, its simulator, their shared contracts."""
