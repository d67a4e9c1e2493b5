"""Long-running services of the pipeline: the Finnhub producer, its simulator, and the contracts they share."""
