"""The only module here that opens files: recognise a log's format from its first lines, then stream it.

A file (plain or gzip'd) is read line by line and handed to its parser; records come out as an
iterator, so memory does not grow with the file: the caller keeps what it wants.
"""

from __future__ import annotations

import gzip
import io
import os
from typing import Iterator

from ..errors import UnusableInput
from .access import ApacheParser, UwsgiParser
from .base import LineParser
from .client import ClientDebugParser
from .haproxy import HaproxyParser
from .mariadb import MariadbErrorParser
from .oslo import OsloParser
from .records import ParseStats

PARSERS: dict[str, type[LineParser]] = {p.name: p for p in (
    HaproxyParser, UwsgiParser, ApacheParser, OsloParser, MariadbErrorParser, ClientDebugParser)}
FORMATS = tuple(PARSERS)
SAMPLE_LINES = 1000  # lines looked at to recognise a format
SAMPLE_CHARS = 1 << 20  # … or fewer, when they are long
MAX_LINE = 1 << 16  # characters: a longer "line" (binary junk without newlines) is read in pieces
MAX_RECORD = 1 << 14  # characters: longer lines are no record of ours (and would make regexes crawl)
MIN_SHARE = 0.05  # of the sampled lines, in the format's shape (the rest: banners, tracebacks, client output)


class NotALog(UnusableInput):
    """The file is none of the formats glancetrace reads."""


def open_text(path: str) -> io.TextIOBase:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)


def _sample(path: str) -> list[str]:
    lines = []
    chars = 0
    try:
        with open_text(path) as f:
            for line in iter(lambda: f.readline(MAX_LINE), ""):
                chars += len(line)
                line = line.rstrip("\r\n")
                if line.strip() and len(line) <= MAX_RECORD:
                    lines.append(line)
                if len(lines) >= SAMPLE_LINES or chars >= SAMPLE_CHARS:
                    break
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise NotALog(f"{path}: cannot be read as a log ({e})") from None
    return lines


def detect(path: str) -> str:
    """The format name of a log file, from its first lines; NotALog when it is none of ours."""
    lines = _sample(path)
    best, hits = None, 0
    for name, parser in PARSERS.items():
        n = sum(1 for line in lines if parser.looks_like(line))
        if n > hits:
            best, hits = name, n
    if best is None or (best != "client" and hits < MIN_SHARE * len(lines)):
        kinds = ", ".join(FORMATS)
        raise NotALog(f"{path}: not a log glancetrace reads (looked for {kinds})")
    return best


class LogScan:
    """Iterate the records of one file; `stats` holds the counts once the iteration ended."""

    def __init__(self, path: str, fmt: str) -> None:
        if fmt not in PARSERS:
            raise NotALog(f"{path}: unknown log format {fmt!r} (one of {', '.join(FORMATS)})")
        self.path, self.fmt = path, fmt
        self.stats = ParseStats()
        self.size = os.path.getsize(path)

    def __iter__(self) -> Iterator:
        parser = PARSERS[self.fmt]()
        self.stats = parser.stats
        path = self.path
        try:
            with open_text(path) as f:
                for number, line in enumerate(iter(lambda: f.readline(MAX_LINE), ""), 1):
                    if len(line) > MAX_RECORD:
                        self.stats.lines += 1
                        self.stats.bad(number)
                        continue
                    for rec in parser.feed(line.rstrip("\r\n"), number):
                        rec.file = path
                        yield rec
        except (OSError, EOFError, gzip.BadGzipFile):
            self.stats.bad(self.stats.lines + 1)  # a gzip cut short: what was read stands
        for rec in parser.close():
            rec.file = path
            yield rec
