"""The ``lance-spiral`` command line (each sub-command's arguments live with its feature)."""

from lance_spiral.cli.main import main

__all__ = ["main"]
