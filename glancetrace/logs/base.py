"""What every line parser shares: sans-I/O, one line in, records out, counts kept."""

from __future__ import annotations

from .records import ParseStats


class LineParser:
    """Feed lines (without their newline) in file order; `close()` flushes a record still open."""

    name = ""

    def __init__(self) -> None:
        self.stats = ParseStats()

    @staticmethod
    def looks_like(line: str) -> bool:  # does this line belong to the format (for recognising a file)?
        raise NotImplementedError

    def feed(self, line: str, number: int) -> list:
        raise NotImplementedError

    def close(self) -> list:
        return []

    def _emit(self, records: list) -> list:
        self.stats.records += len(records)
        return records
