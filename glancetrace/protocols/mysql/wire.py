"""Little readers for MySQL wire encodings: length-encoded integers and strings, C strings."""

from __future__ import annotations

_I16 = int.from_bytes


class Short(Exception):
    """A field ran past the end of its packet."""


def lenenc_int(b, pos: int) -> tuple[int | None, int]:
    """(value, next position); value None for the NULL marker 0xFB."""
    try:
        c = b[pos]
    except IndexError:
        raise Short from None
    if c < 0xFB:
        return c, pos + 1
    if c == 0xFB:
        return None, pos + 1
    n = 2 if c == 0xFC else 3 if c == 0xFD else 8 if c == 0xFE else 0
    if n == 0 or pos + 1 + n > len(b):
        raise Short
    return _I16(b[pos + 1:pos + 1 + n], "little"), pos + 1 + n


def lenenc_bytes(b, pos: int) -> tuple[bytes | None, int]:
    n, pos = lenenc_int(b, pos)
    if n is None:
        return None, pos
    end = pos + n
    if end > len(b):
        raise Short
    return bytes(b[pos:end]), end


def cstring(b, pos: int) -> tuple[bytes, int]:
    """NUL-terminated string; a missing NUL takes the rest of the packet."""
    raw = bytes(b[pos:])
    i = raw.find(b"\0")
    if i < 0:
        return raw, len(b)
    return raw[:i], pos + i + 1


def text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def u16(b, pos: int) -> int:
    if pos + 2 > len(b):
        raise Short
    return b[pos] | b[pos + 1] << 8


def u32(b, pos: int) -> int:
    if pos + 4 > len(b):
        raise Short
    return _I16(b[pos:pos + 4], "little")
