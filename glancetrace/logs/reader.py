"""The only module here that opens files: recognise a log's format from its first lines, then stream it.

A file (plain or gzip'd) is read once, in blocks split into lines; its format is recognised from the first
lines of that stream, the rest handed to its parser; records come out as an iterator, so memory does not
grow with the file: the caller keeps what it wants.  Given a time window, a line whose hour (a cheap
regex on the raw bytes) lies outside it is only counted: most of a big log is never decoded or parsed.
"""

from __future__ import annotations

import gzip
import itertools
import os
from typing import Iterator

from ..errors import UnusableInput
from .access import ApacheParser, UwsgiParser
from .line_parser import LineParser
from .client import ClientDebugParser
from .haproxy import HaproxyParser
from .mariadb import MariadbErrorParser
from .oslo import OsloParser
from .records import ParseStats
from .slowlog import SlowLogParser

PARSERS: dict[str, type[LineParser]] = {p.name: p for p in (
    HaproxyParser, UwsgiParser, ApacheParser, OsloParser, MariadbErrorParser, SlowLogParser, ClientDebugParser)}
FORMATS = tuple(PARSERS)
SAMPLE_LINES = 1000  # lines looked at to recognise a format
SAMPLE_CHARS = 1 << 20  # … or fewer, when they are long
BLOCK = 1 << 20  # bytes read at a time; lines are split out of the blocks
MAX_RECORD = 1 << 14  # characters: longer lines are no record of ours (and would make regexes crawl)
MIN_SHARE = 0.05  # of the sampled lines, in the format's shape (the rest: banners, tracebacks, client output)
HOUR = 3600.0


class NotALog(UnusableInput):
    """The file is none of the formats glancetrace reads."""


def _open_binary(path: str):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


class _Lines:
    """The file's lines (without the newline) read in blocks; None for a line over MAX_RECORD (binary junk
    without newlines is never held whole).  A read error (a gzip cut short) ends the lines: `cut` says so."""

    def __init__(self, raw) -> None:
        self.raw, self.cut = raw, False

    def __iter__(self) -> Iterator[bytes | None]:
        tail, overlong = b"", False
        while True:
            try:
                block = self.raw.read1(BLOCK)  # read1: what a gzip cut short still gives
            except (OSError, EOFError, gzip.BadGzipFile):
                self.cut = True
                break
            if not block:
                break
            parts = block.split(b"\n")
            parts[0] = tail + parts[0]
            tail = parts.pop()
            for p in parts:
                yield None if overlong or len(p) > MAX_RECORD else p
                overlong = False
            if len(tail) > MAX_RECORD:
                tail, overlong = b"", True
        if tail or overlong:
            yield None if overlong else tail


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")


def _recognise(path: str, sample: list[str]) -> str:
    best, hits = None, 0
    lines = [line for line in sample if line.strip()]
    for name, parser in PARSERS.items():
        n = sum(1 for line in lines if parser.looks_like(line))
        if n > hits:
            best, hits = name, n
    if best is None or (best != "client" and hits < MIN_SHARE * len(lines)):
        raise NotALog(f"{path}: not a log glancetrace reads (looked for {', '.join(FORMATS)})")
    return best


def _head(lines: Iterator[bytes | None]) -> list[bytes | None]:
    """The first lines of a stream, to recognise its format from."""
    out, chars = [], 0
    for line in lines:
        out.append(line)
        chars += MAX_RECORD if line is None else len(line)
        if len(out) >= SAMPLE_LINES or chars >= SAMPLE_CHARS:
            break
    return out


def _sample(head: list[bytes | None]) -> list[str]:
    return [_text(b) for b in head if b is not None]


def _open(path: str) -> _Lines:
    try:
        return _Lines(_open_binary(path))
    except OSError as e:
        raise NotALog(f"{path}: cannot be read as a log ({e.strerror or e})") from None


def detect(path: str) -> str:
    """The format name of a log file, from its first lines; NotALog when it is none of ours."""
    lines = _open(path)
    with lines.raw:
        head = _head(iter(lines))
    return _recognise(path, _sample(head))


class LogScan:
    """Iterate the records of one file, read once: its format is recognised from the first lines of the same
    stream (unless named).  With `window` (lo, hi) in the log's own clock, lines whose hour lies outside it are
    counted (`stats.before`/`stats.after`) and not parsed.  `stats` holds the counts once the iteration ended."""

    def __init__(self, path: str, fmt: str | None = None, window: tuple[float, float] | None = None) -> None:
        if fmt is not None and fmt not in PARSERS:
            raise NotALog(f"{path}: unknown log format {fmt!r} (one of {', '.join(FORMATS)})")
        self.path, self.fmt, self.window = path, fmt, window
        self.stats = ParseStats()
        self.size = os.path.getsize(path)

    def __iter__(self) -> Iterator:
        lines = _open(self.path)
        with lines.raw:
            it = iter(lines)
            head = _head(it)
            if self.fmt is None:
                self.fmt = _recognise(self.path, _sample(head))
            parser = PARSERS[self.fmt]()
            self.stats = parser.stats
            yield from self._records(parser, itertools.chain(head, it))
        if lines.cut:
            self.stats.bad(self.stats.lines + 1)  # a gzip cut short: what was read stands
        for rec in parser.close():
            rec.file = self.path
            yield rec

    def _records(self, parser: LineParser, lines) -> Iterator:
        path, stats, feed = self.path, parser.stats, parser.feed
        when = parser.WHEN if self.window is not None else None
        lo, hi = self.window or (0.0, 0.0)
        hours: dict[tuple, float] = {}  # the hour a time key stands for, parsed once
        for number, line in enumerate(lines, 1):
            if line is None:
                stats.lines += 1
                stats.bad(number)
                continue
            m = when.search(line) if when is not None else None
            if m is not None:
                key = m.groups()
                h = hours.get(key)
                if h is None:
                    h = hours[key] = _hour(parser, key)
                if h + HOUR < lo or h > hi:  # the whole hour is outside the window: counted, not parsed
                    stats.lines += 1
                    if h > hi:
                        stats.after += 1
                    else:
                        stats.before += 1
                    recs = parser.skip()
                else:
                    recs = feed(_text(line), number)
            else:
                recs = feed(_text(line), number)
            for rec in recs:
                rec.file = path
                yield rec


def _hour(parser: LineParser, key: tuple) -> float:
    try:
        return parser.hour_of(key)
    except (ValueError, KeyError, IndexError, UnicodeDecodeError):
        return float("nan")  # no date after all: never outside (the parser decides what the line is)
