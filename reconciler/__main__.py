"""``python -m reconciler`` runs the CLI."""

from reconciler.interfaces.cli import main

main()
