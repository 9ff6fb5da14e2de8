"""sparsiflow engine: dynamic spectral sparsification of a changing graph (no I/O, no Kafka)."""
