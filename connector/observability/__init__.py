"""Prometheus metrics and the worker's kappa probe."""
