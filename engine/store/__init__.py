"""The graph store: G and H as slack CSR with an edge hash, node ids, components."""
