"""Every format at the system's edge, one module each with its one encoder and one decoder:
input events (``edge_updates``) and update files of them (``update_files``), deltas
(``deltas``; the deltas topic as a log: ``delta_log``), quality metrics (``metrics_events``),
dead letters (``dead_letters``), Matrix Market files (``matrix_market``)."""
