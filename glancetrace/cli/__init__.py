"""The `glancetrace` command: a click group; each subcommand lives in its own module."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from .common import run_guarded

SUBCOMMANDS = ["split", "http", "sql", "images", "report"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="glancetrace")
def cli() -> None:
    """What really happened to Glance image uploads, read from a packet capture.

    Exit status: 0 success, 1 findings of the severity given to --fail-on,
    2 unusable input or arguments.
    """


for _name in SUBCOMMANDS:
    try:
        _mod = importlib.import_module(f".{_name}", __name__)
    except ModuleNotFoundError as e:  # a subcommand still being built
        if e.name != f"{__name__}.{_name}":
            raise
        continue
    cli.add_command(_mod.command, _name)


def main() -> None:
    sys.exit(run_guarded(cli))
