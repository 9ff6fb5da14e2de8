"""Reproducible benchmarks: the engine protocol (``bench.run``) and the connector's
throughput (``bench.connector_throughput``, ``bench.codec_throughput``)."""
