"""``python -m connector`` runs the ``sparsiflow`` command line."""

from connector.cli import main

main()
