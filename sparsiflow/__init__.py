"""sparsiflow: live spectral sparsification of changing graphs on Kafka.

One import package over the repository's folders (linked here): :mod:`sparsiflow.engine` (the
numerical core, no I/O), :mod:`sparsiflow.workloads` (synthetic graphs and update streams),
:mod:`sparsiflow.connector` (wire formats, stream processing, Kafka, recovery, observability,
command line) and :mod:`sparsiflow.schemas` (the event contracts).

Importing the package points Numba's cache at the project's kernel folder first
(:mod:`sparsiflow.engine.kernel_cache`): it must be set before any kernel is defined.
"""

from sparsiflow.engine.kernel_cache import configure as _configure_kernel_cache

_configure_kernel_cache()
