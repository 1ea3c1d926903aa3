"""The `glancetrace` command: a click group; each subcommand lives in its own module.

Subcommands are imported only when run, so `glancetrace split` does not pay
for pandas and the analysis stack it never uses.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from .common import run_guarded

SUBCOMMANDS = {
    "report": "the HTML timeline of every image (the main job)",
    "images": "each image's transitions, calls, SQL and findings",
    "http": "every HTTP transaction",
    "sql": "every MySQL statement, or a digest of them",
    "split": "cut a capture into pieces, like editcap",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(SUBCOMMANDS)

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS:
            return None
        return importlib.import_module(f".{name}", __name__).command

    def format_commands(self, ctx, formatter):
        # short help without importing every subcommand
        with formatter.section("Commands"):
            formatter.write_dl(list(SUBCOMMANDS.items()))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="glancetrace")
def cli() -> None:
    """What really happened to Glance image uploads, read from a packet capture.

    Exit status: 0 success, 1 findings of the severity given to --fail-on,
    2 unusable input or arguments.
    """


def main() -> None:
    sys.exit(run_guarded(cli))
