"""Helpers of the tests, never tests: servers, processes, stacks, strategies, lookups."""
