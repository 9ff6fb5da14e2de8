"""Checkpoints and recovery of a partition's graphs from the deltas topic."""
