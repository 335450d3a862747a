"""``python -m slmselect``: the command line."""

from slmselect.cli import run

run()
