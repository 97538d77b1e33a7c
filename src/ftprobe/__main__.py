"""``python -m ftprobe`` runs the command line."""

from ftprobe.cli.main import main

main()
