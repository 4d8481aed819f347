"""What feeds the store besides the poll loop (exporter/sources/training.py): one module per source."""
