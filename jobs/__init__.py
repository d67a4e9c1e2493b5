"""Batch and streaming jobs submitted with spark-submit."""
