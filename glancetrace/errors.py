"""Errors that end a run with a short message instead of a traceback."""


class UnusableInput(Exception):
    """Nothing useful could be read (exit status 2, one-line message)."""
