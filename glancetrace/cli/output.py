"""Output files written whole or not at all; write errors as one line naming the path."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from ..errors import UnusableInput


@contextlib.contextmanager
def output_file(path: str):
    """A text file to write `path` through: a temporary file in the same directory, renamed over `path`
    once complete, so a full disk or an error never leaves a partial report. A missing directory is made.
    A target that is not a regular file (/dev/stdout, a FIFO, /dev/full) is written directly; `-` is
    standard output, as for every Unix tool."""
    if path == "-":
        path = "/dev/stdout"
    try:
        if _special(path):
            with open(path, "w", encoding="utf-8") as f:
                yield f
            return
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
    except OSError as e:
        raise UnusableInput(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a report is as readable as any new file
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise UnusableInput(f"cannot write {path}: {e.strerror or e}") from None
        raise


def _special(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class StdoutError(Exception):
    """Standard output could not be written (a full disk, a closed terminal); the OS error's text."""


class GuardedStdout:
    """sys.stdout, with its write errors told apart from every other OSError (e.g. reading a capture)."""

    def __init__(self, inner):
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:  # the reader left (`| head`): not an error
            raise
        except OSError as e:
            raise StdoutError(e.strerror or str(e)) from None

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StdoutError(e.strerror or str(e)) from None

    def __getattr__(self, name):  # isatty, fileno, encoding… as the real stream's
        return getattr(self._inner, name)
