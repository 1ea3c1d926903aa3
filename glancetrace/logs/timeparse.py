"""Fast timestamp parsing for log lines (strptime is too slow for gigabyte logs).

Times without a zone are read as if UTC: the file's clock offset, estimated or
given, turns them into the capture's clock.
"""

from __future__ import annotations

import calendar
from functools import lru_cache

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"), 1)}


def _epoch(y: int, mo: int, d: int, h: int, mi: int, s: int) -> float:
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        raise ValueError("time out of range")
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


def _frac(s: str) -> float:
    return int(s) / 10 ** len(s) if s else 0.0


# log lines come many to a minute: a minute's text is turned into epoch seconds once
@lru_cache(maxsize=4096)
def _iso_minute(s: str) -> float:
    """'2026-12-03 08:34'"""
    return _epoch(int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), 0)


@lru_cache(maxsize=4096)
def _clf_minute(s: str) -> float:
    """'03/Dec/2026:08:34'"""
    day, mon, rest = s.split("/", 2)
    return _epoch(int(rest[:4]), MONTHS[mon], int(day), int(rest[5:7]), int(rest[8:10]), 0)


def iso_time(s: str) -> float:
    """'2026-12-03 08:34:18.361' or '2026-12-03T08:34:18.361' (oslo.log, MariaDB)."""
    t = _iso_minute(s[:16])
    sec = int(s[17:19])
    if not 0 <= sec < 61 or s[16] != ":" or s[10] not in " T":
        raise ValueError("time out of range")
    return t + sec + (_frac(s[20:]) if len(s) > 20 else 0.0)


def clf_time(s: str) -> float:
    """'03/Dec/2026:08:34:18.361' (haproxy) or '03/Dec/2026:08:34:18 +0100' (Apache; the zone is applied)."""
    t = _clf_minute(s[:17])
    sec = int(s[18:20])
    if not 0 <= sec < 61 or s[17] != ":":
        raise ValueError("time out of range")
    t += sec
    tail = s[20:]
    if tail.startswith("."):
        frac, _, tail = tail[1:].partition(" ")
        t += _frac(frac)
        tail = " " + tail if tail else ""
    tail = tail.strip()
    if tail and tail[0] in "+-" and len(tail) == 5:
        off = int(tail[1:3]) * 3600 + int(tail[3:5]) * 60
        t -= off if tail[0] == "+" else -off
    return t


def ctime_time(s: str) -> float:
    """'Fri Nov 27 00:25:27 2026' (uWSGI's request log: whole seconds, local time)."""
    parts = s.split()
    hh, mm, ss = parts[3].split(":")
    return _epoch(int(parts[4]), MONTHS[parts[1]], int(parts[2]), int(hh), int(mm), int(ss))
