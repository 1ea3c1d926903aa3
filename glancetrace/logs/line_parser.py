"""What every line parser shares: sans-I/O, one line in, records out, counts kept."""

from __future__ import annotations

import re
from typing import Callable

from .records import ParseStats


class LineParser:
    """Feed lines (without their newline) in file order; `close()` flushes a record still open."""

    name = ""
    LINE: re.Pattern | None = None  # a whole record line
    SHAPE: re.Pattern | None = None  # how a record line starts: such a line LINE cannot read is garbled
    WHEN: re.Pattern | None = None  # bytes: a record line's time down to the hour, for the window prefilter

    def __init__(self) -> None:
        self.stats = ParseStats()

    @classmethod
    def looks_like(cls, line: str) -> bool:
        """Does this line belong to the format (for recognising a file)?"""
        return cls.LINE.match(line) is not None

    def feed(self, line: str, number: int) -> list:
        raise NotImplementedError

    def close(self) -> list:
        return []

    @classmethod
    def hour_of(cls, key: tuple) -> float:
        """The start of the hour WHEN's groups name, in the log's clock (ValueError when no date)."""
        raise NotImplementedError

    def skip(self) -> list:
        """A record line outside the window was passed over: the record before it is complete, and the lines
        that go on the skipped one (a traceback) belong to nothing kept."""
        return self.close()

    def _read(self, line: str, number: int) -> re.Match | None:
        """LINE's match; None with the line counted as garbled (in the record's shape) or as other."""
        self.stats.lines += 1
        m = self.LINE.match(line)
        if m is None:
            if self.SHAPE is not None and self.SHAPE.match(line):
                self.stats.bad(number)
            else:
                self.stats.other += 1
        return m

    def _time(self, parse: Callable[[str], float], text: str, number: int) -> float | None:
        """The line's time; None with the line counted as garbled when it is no date (a damaged digit)."""
        try:
            return parse(text)
        except (ValueError, KeyError, IndexError):
            self.stats.bad(number)
            return None

    def _emit(self, records: list) -> list:
        self.stats.records += len(records)
        return records
