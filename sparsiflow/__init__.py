"""sparsiflow: live spectral sparsification of changing graphs on Kafka.

One import package over the repository's folders (linked here): :mod:`sparsiflow.engine` (the
numerical core, no I/O), :mod:`sparsiflow.workloads` (synthetic graphs and update streams),
:mod:`sparsiflow.connector` (wire formats, stream processing, Kafka, recovery, observability,
command line) and :mod:`sparsiflow.schemas` (the event contracts).
"""
