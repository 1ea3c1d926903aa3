"""HTTP/1.x start lines and header blocks, and spotting a message start in a byte soup."""

from __future__ import annotations

import re

# strict enough that resynchronising inside a body rarely hits a false start.  Any RFC 9110
# token is a method (CONNECT, TRACE, Swift's COPY, WebDAV's PROPFIND, QUERY, lower case ...);
# some servers write the status line's HTTP in lower case (Zeek accepts it too).
METHOD = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}"
REQUEST_LINE = re.compile(rb"(" + METHOD + rb") ([^ \t\r\n]+) HTTP/(1\.[01])\r?\n")
STATUS_LINE = re.compile(rb"(?:HTTP|http)/(1\.[01]) ([1-5]\d\d)(?:[ \t]([^\r\n]*))?\r?\n")
HEAD_END = re.compile(rb"\r?\n\r?\n")


def parse_headers(block: bytes, notes: list[str]) -> list[tuple[str, str]]:
    """Header lines (after the start line) → [(name, value)]; obs-fold joined, junk noted."""
    headers: list[tuple[str, str]] = []
    for raw in block.split(b"\n"):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and headers:  # obs-fold continuation
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip().decode('latin-1')}")
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            notes.append(f"malformed header line {line[:60]!r}")
            continue
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return headers


def header_map(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ', ' as RFC 9110 allows."""
    out: dict[str, str] = {}
    for k, v in headers:
        k = k.lower()
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


def find_request_start(buf: bytes, line_start_at_0: bool, seg_start: int = 0) -> int:
    """Offset of the first request line in `buf` that starts a line, or -1.  Offset `seg_start`
    (where a new segment begins after carried bytes) counts as a line start too: messages very
    often begin exactly at a segment boundary."""
    i = 0
    while True:
        i = buf.find(b" HTTP/1.", i)
        if i < 0:
            return -1
        ls = buf.rfind(b"\n", max(0, i - 8192), i) + 1
        if (ls > 0 or line_start_at_0) and REQUEST_LINE.match(buf, ls):
            return ls
        if ls < seg_start <= i and REQUEST_LINE.match(buf, seg_start):
            return seg_start
        i += 8


def find_status_start(buf: bytes, line_start_at_0: bool, seg_start: int = 0) -> int:
    """Offset of the first status line in `buf` that starts a line (or at `seg_start`, as
    above), or -1."""
    upper = _find_status(buf, b"HTTP/1.", line_start_at_0, seg_start)
    if b"http/1." not in buf:  # one more C-speed scan: the lower-case form is rare
        return upper
    lower = _find_status(buf, b"http/1.", line_start_at_0, seg_start)
    return lower if upper < 0 or 0 <= lower < upper else upper


def _find_status(buf: bytes, name: bytes, line_start_at_0: bool, seg_start: int) -> int:
    i = 0
    while True:
        i = buf.find(name, i)
        if i < 0:
            return -1
        at_line_start = (i == 0 and line_start_at_0) or (i > 0 and (buf[i - 1] == 0x0A or i == seg_start))
        if at_line_start and STATUS_LINE.match(buf, i):
            return i
        i += 7
