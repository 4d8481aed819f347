"""Sources that feed the exporter besides the SageMaker poller (one module each)."""
