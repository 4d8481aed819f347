"""What feeds the store besides the poll loop (exporter/sync.py): one module per source."""
