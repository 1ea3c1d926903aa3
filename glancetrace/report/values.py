"""Defensive readers of the analysis dict (any field may be missing or of another type) and the
formatting shared by the HTML page and its timelines (also jinja filters)."""

from __future__ import annotations

import math
from datetime import datetime, timezone


def dict_(x) -> dict:
    return x if isinstance(x, dict) else {}


def list_(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def str_(x) -> str:
    return "" if x is None else str(x)


def fmt_utc(ts, with_date: bool = True) -> str:
    t = num(ts)
    if t is None:
        return "–"
    try:
        d = datetime.fromtimestamp(t, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "–"
    s = d.strftime("%Y-%m-%d %H:%M:%S." if with_date else "%H:%M:%S.") + f"{d.microsecond // 1000:03d}"
    return s + "Z" if with_date else s


def fmt_offset(ts, t0) -> str:
    t, z = num(ts), num(t0)
    if t is None or z is None:
        return ""
    return f"+{t - z:.3f} s" if t >= z else f"−{z - t:.3f} s"


def fmt_duration(seconds) -> str:
    s = num(seconds)
    if s is None:
        return "–"
    if abs(s) < 1:
        return f"{s * 1000:.1f} ms"
    if abs(s) < 120:
        return f"{s:.3f} s"
    return f"{int(s // 60)} min {s % 60:.1f} s"


def fmt_bytes(n) -> str:
    v = num(n)
    if v is None:
        return "–"
    if v < 1024:
        return f"{int(v)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        v /= 1024
        if v < 1024 or unit == "TiB":
            return f"{v:.1f} {unit}"
    return f"{v:.1f} TiB"  # pragma: no cover


def fmt_int(n) -> str:
    v = num(n)
    return "–" if v is None else f"{int(v):,}"
