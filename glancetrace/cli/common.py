"""What every subcommand shares: exit statuses, short error messages, progress, output."""

from __future__ import annotations

import os
import sys

import click

from ..errors import UnusableInput

EXIT_OK, EXIT_FINDINGS, EXIT_UNUSABLE = 0, 1, 2


def run_guarded(group: click.Group) -> int:
    """Run the CLI; bad input ends with a short message and status 2, never a traceback."""
    try:
        group.main(standalone_mode=False)
        return EXIT_OK
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.Abort:
        click.echo("glancetrace: interrupted", err=True)
        return EXIT_UNUSABLE
    except click.UsageError as e:
        e.show()
        return EXIT_UNUSABLE
    except click.ClickException as e:
        e.show()
        return EXIT_UNUSABLE if e.exit_code == 1 else e.exit_code
    except UnusableInput as e:
        click.echo(f"glancetrace: {e}", err=True)
        return EXIT_UNUSABLE
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug, not bad input: still no traceback unless asked for
        if os.environ.get("GLANCETRACE_DEBUG"):
            raise
        click.echo(f"glancetrace: internal error: {type(e).__name__}: {e}\n"
                   "(set GLANCETRACE_DEBUG=1 for the traceback and please report it)", err=True)
        return EXIT_UNUSABLE


def progress_wanted(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()
