"""The local rules: insertion (is an edge critical?), deletion repair, search."""
