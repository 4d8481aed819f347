"""Benchmarks and test fixtures that are not part of the exporter package."""
