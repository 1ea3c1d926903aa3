"""Binary-protocol values (prepared-statement parameters and binary result rows) and
putting parameter values back into the prepared SQL text."""

from __future__ import annotations

import datetime as dt
import re
import struct
from decimal import Decimal, InvalidOperation

from . import constants as C
from .wire import Short, lenenc_bytes

_unpack_from = struct.unpack_from
_FIXED = {  # type -> (struct format signed, unsigned, size)
    C.T_TINY: ("<b", "<B", 1), C.T_SHORT: ("<h", "<H", 2), C.T_YEAR: ("<h", "<H", 2),
    C.T_LONG: ("<i", "<I", 4), C.T_INT24: ("<i", "<I", 4), C.T_LONGLONG: ("<q", "<Q", 8),
    C.T_FLOAT: ("<f", "<f", 4), C.T_DOUBLE: ("<d", "<d", 8),
}
_TEXTUAL = frozenset({C.T_VARCHAR, C.T_VAR_STRING, C.T_STRING, C.T_ENUM, C.T_SET, C.T_JSON})
_BLOBS = frozenset({C.T_TINY_BLOB, C.T_MEDIUM_BLOB, C.T_LONG_BLOB, C.T_BLOB, C.T_GEOMETRY, C.T_BIT})
VALUE_CAP = 4096  # bytes of one string/blob value kept


class LongData:
    """A parameter sent with COM_STMT_SEND_LONG_DATA (only its start is kept)."""

    __slots__ = ("head", "size")

    def __init__(self) -> None:
        self.head = b""
        self.size = 0

    def add(self, chunk) -> None:
        if len(self.head) < VALUE_CAP:
            self.head += bytes(chunk[:VALUE_CAP - len(self.head)])
        self.size += len(chunk)

    def value(self):
        return _bytes_value(self.head, self.size > len(self.head))


def _bytes_value(raw: bytes, cut: bool = False):
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return s + "…" if cut else s


def _temporal(b, pos: int, typ: int):
    n = b[pos]
    pos += 1
    if pos + n > len(b):
        raise Short
    p = b[pos:pos + n]
    if typ == C.T_TIME:
        if n == 0:
            return dt.timedelta(0), pos
        neg, days, h, m, s = p[0], int.from_bytes(p[1:5], "little"), p[5], p[6], p[7]
        us = int.from_bytes(p[8:12], "little") if n >= 12 else 0
        td = dt.timedelta(days=days, hours=h, minutes=m, seconds=s, microseconds=us)
        return (-td if neg else td), pos + n
    if n == 0:
        return None if typ != C.T_DATE else "0000-00-00", pos  # zero date
    y, mo, d = p[0] | p[1] << 8, p[2], p[3]
    h = mi = s = us = 0
    if n >= 7:
        h, mi, s = p[4], p[5], p[6]
    if n >= 11:
        us = int.from_bytes(p[7:11], "little")
    try:
        if typ == C.T_DATE:
            return dt.date(y, mo, d), pos + n
        return dt.datetime(y, mo, d, h, mi, s, us), pos + n
    except ValueError:  # zero dates and other values Python refuses
        return f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}", pos + n


def read_value(b, pos: int, typ: int, unsigned: bool = False):
    """One binary-protocol value → (Python value, next position)."""
    f = _FIXED.get(typ)
    if f is not None:
        fmt, ufmt, size = f
        if pos + size > len(b):
            raise Short
        v = _unpack_from(ufmt if unsigned else fmt, b, pos)[0]
        if typ == C.T_FLOAT:
            v = float(f"{v:.7g}")  # the value a 4-byte float was meant to be
        return v, pos + size
    if typ == C.T_NULL:
        return None, pos
    if typ in (C.T_DATE, C.T_DATETIME, C.T_TIMESTAMP, C.T_TIME):
        if pos >= len(b):
            raise Short
        return _temporal(b, pos, typ)
    raw, pos = lenenc_bytes(b, pos)
    if raw is None:
        return None, pos
    if typ in (C.T_NEWDECIMAL, C.T_DECIMAL):
        try:
            return Decimal(raw.decode("ascii")), pos
        except (InvalidOperation, UnicodeDecodeError):
            return raw, pos
    cut = len(raw) > VALUE_CAP
    if cut:
        raw = raw[:VALUE_CAP]
    if typ in _TEXTUAL:
        return _bytes_value(raw, cut), pos
    return (_bytes_value(raw, cut) if typ not in _BLOBS else raw), pos


def sql_literal(v) -> str:
    """A parameter value written the way MariaDB's general log shows it."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, Decimal)):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.datetime):
        return "TIMESTAMP'" + (v.isoformat(" ") if v.microsecond else v.strftime("%Y-%m-%d %H:%M:%S")) + "'"
    if isinstance(v, dt.date):
        return "DATE'" + v.isoformat() + "'"
    if isinstance(v, dt.timedelta):
        us = abs(v) // dt.timedelta(microseconds=1)
        sec, us = divmod(us, 1_000_000)
        frac = f".{us:06d}" if us else ""
        sign = "-" if v < dt.timedelta(0) else ""
        return f"TIME'{sign}{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}{frac}'"
    if isinstance(v, LongData):
        v = v.value()
    if isinstance(v, (bytes, bytearray)):
        try:
            v = bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + bytes(v).hex()
    return "'" + _escape(str(v)) + "'"


_ESC = str.maketrans({"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"})


def _escape(s: str) -> str:
    return s.translate(_ESC)


# a `?` outside quotes and comments; the alternatives before it swallow what must be skipped
_TOKENS = re.compile(r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`[^`]*`|/\*.*?\*/|(?:--\s|\#)[^\n]*|\?""", re.S)


def substitute(sql: str, params: list) -> str:
    """The prepared text with each `?` replaced by its value as an SQL literal."""
    it = iter(params)

    def rep(m):
        if m.group() != "?":
            return m.group()
        try:
            return sql_literal(next(it))
        except StopIteration:
            return "?"

    return _TOKENS.sub(rep, sql)
