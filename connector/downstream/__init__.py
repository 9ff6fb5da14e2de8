"""Consumers of the output topics: rebuild H from the deltas."""
