"""What every subcommand shares: exit statuses, short error messages, progress, output."""

from __future__ import annotations

import os
import sys

import click

from ..errors import UnusableInput
from ..report.safe_text import visible
from .output import GuardedStdout, StdoutError

EXIT_OK, EXIT_FINDINGS, EXIT_UNUSABLE = 0, 1, 2


def run_guarded(group: click.Group) -> int:
    """Run the CLI; bad input ends with a short message and status 2, never a traceback."""
    real_stdout = sys.stdout
    sys.stdout = GuardedStdout(real_stdout)
    try:
        group.main(standalone_mode=False)
        sys.stdout.flush()  # a full disk behind stdout shows here, not as Python's message at exit
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
        _say(f"glancetrace: {e}")
        return EXIT_UNUSABLE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except StdoutError as e:
        _silence_stdout()
        _say(f"glancetrace: cannot write to standard output: {e}")
        return EXIT_UNUSABLE
    except OSError as e:
        _say(f"glancetrace: {e.filename}: {e.strerror}" if e.filename else f"glancetrace: {e.strerror or e}")
        return EXIT_UNUSABLE
    except Exception as e:  # a bug, not bad input: still no traceback unless asked for
        if os.environ.get("GLANCETRACE_DEBUG"):
            raise
        _say(f"glancetrace: internal error: {type(e).__name__}: {e}\n"
             "(set GLANCETRACE_DEBUG=1 for the traceback and please report it)")
        return EXIT_UNUSABLE
    finally:
        sys.stdout = real_stdout


def _say(message: str) -> None:
    """A message on stderr; it may quote capture text, so made visible first (line breaks kept)."""
    click.echo(visible(message, lines=True), err=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def progress_wanted(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()
