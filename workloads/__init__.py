"""Synthetic graph families and the paper's update streams (benchmarks, demo, `sparsiflow
generate`); built on the engine, not part of it."""
