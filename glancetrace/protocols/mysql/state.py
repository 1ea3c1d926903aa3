"""What a MySQL connection's decoder keeps about commands in flight and prepared statements."""

from __future__ import annotations

from . import constants as C
from .events import SqlStatement
from .binary_values import LongData


class _Prepared:
    __slots__ = ("sql", "nparams", "ncols", "types", "long_data")

    def __init__(self, sql: str | None, nparams: int | None = None, ncols: int | None = None):
        self.sql = sql
        self.nparams = nparams
        self.ncols = ncols
        self.types: list[tuple[int, bool]] | None = None  # bound at the last execute
        self.long_data: dict[int, LongData] = {}



class _Pending:
    """A command waiting for (or receiving) its response."""

    __slots__ = ("ev", "code", "state", "ncols", "coldefs", "types", "binary", "prep",
                 "pparams", "pcols", "first")

    def __init__(self, ev: SqlStatement, code: int):
        self.ev = ev
        self.code = code
        self.state = "first"
        self.ncols = 0
        self.coldefs = 0
        self.types: list[int] = []
        self.binary = code in (C.COM_STMT_EXECUTE, C.COM_STMT_FETCH, C.COM_STMT_BULK_EXECUTE)
        self.prep: _Prepared | None = None
        self.pparams = 0
        self.pcols = 0
        self.first = True
