"""``python -m sparsiflow`` runs the ``sparsiflow`` command line."""

from sparsiflow.connector.cli.main import main

main()
