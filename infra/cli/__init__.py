"""The ``locxia`` command line (Typer + Rich); a composition root that may import pipelines."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    from infra.cli.main import main as run

    sys.exit(run())
