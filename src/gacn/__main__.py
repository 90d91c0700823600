"""Run the gacn command with ``python -m gacn``."""

from gacn.cli import app

app()
