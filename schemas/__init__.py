"""Versioned JSON Schema contracts of every sparsiflow event (data files in this package)."""
