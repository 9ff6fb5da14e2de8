"""Every format at the system's edge: input events, deltas, metrics events, dead letters, Matrix
Market files; one encoder and one decoder each."""
