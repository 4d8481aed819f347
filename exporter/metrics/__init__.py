"""Metric family tables and their small stores, one module per subject."""
