"""Prometheus exporter for AWS SageMaker training jobs."""

__version__ = "0.1.0"
