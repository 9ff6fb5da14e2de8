"""The `sparsiflow` command line."""
