"""Clock offsets between captures of one incident taken on different hosts.

A TCP segment that crossed the wire between two capturing hosts is in both
files with the same addresses, ports, sequence number and length; the
difference of its two timestamps is the clocks' offset plus the one-way
delay.  The median over all shared segments (both directions, so delays
cancel out) estimates the offset.
"""

from __future__ import annotations

import statistics
from typing import Iterator

from .link import LinkDecoder
from .pcapfile import CaptureReader


def first_times(path: str | list[str], limit: int = 200_000) -> Iterator[tuple[int, float]]:
    """(key, first timestamp) of each data-carrying segment in the first `limit` frames (of a
    capture, or of the pieces of one, in order).  The key is the hash of addresses, ports,
    sequence number and length: an int instead of a tuple of bytes keeps the table of a
    capture's 200,000 segments small (collisions among them are negligible)."""
    link = LinkDecoder()
    seen: set[int] = set()
    read = 0
    for p in [path] if isinstance(path, str) else path:
        reader = CaptureReader(p)
        ifaces = reader.info.interfaces
        for _frame, ts, iface, data, _ in reader.packets():
            seg = link.decode(ifaces[iface].linktype, data)
            if seg is not None and len(seg.payload):
                key = hash((seg.src, seg.sport, seg.dst, seg.dport, seg.seq, len(seg.payload) + seg.missing))
                if key not in seen:
                    seen.add(key)
                    yield key, ts
            read += 1
            if read >= limit:
                return


def estimate_group_offsets(reference: list[str], others: list[list[str]],
                           limit: int = 200_000) -> list[tuple[float, int]]:
    """(offset, shared segments) of each capture in `others` (each a list of pieces) relative to
    `reference`.  Only the reference's segments are kept; the others are matched as they are read."""
    ref = dict(first_times(reference, limit))
    out = []
    for paths in others:
        diffs = [ref[k] - t for k, t in first_times(paths, limit) if k in ref]
        out.append((statistics.median(diffs) if diffs else 0.0, len(diffs)))
    return out
