"""One module per ``sparsiflow`` sub-command; each exposes ``command: click.Command``."""
