"""Clock offsets between captures of one incident taken on different hosts.

A TCP segment that crossed the wire between two capturing hosts is in both
files with the same addresses, ports, sequence number and length; the
difference of its two timestamps is the clocks' offset plus the one-way
delay.  The median over all shared segments (both directions, so delays
cancel out) estimates the offset.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterator

from .link import LinkDecoder
from .reader import CaptureReader


@dataclass
class OffsetEstimate:
    path: str
    offset: float  # seconds to add to this capture's timestamps to put them on the first capture's clock
    shared_segments: int


def first_times(path: str, limit: int = 200_000) -> Iterator[tuple[int, float]]:
    """(key, first timestamp) of each data-carrying segment in the first `limit` frames.  The key is
    the hash of addresses, ports, sequence number and length: an int instead of a tuple of bytes keeps
    the table of a capture's 200,000 segments small (collisions among them are negligible)."""
    reader = CaptureReader(path)
    link = LinkDecoder()
    ifaces = reader.info.interfaces
    seen: set[int] = set()
    for frame, ts, iface, data, _ in reader.packets():
        seg = link.decode(ifaces[iface].linktype, data)
        if seg is not None and len(seg.payload):
            key = hash((seg.src, seg.sport, seg.dst, seg.dport, seg.seq, len(seg.payload) + seg.missing))
            if key not in seen:
                seen.add(key)
                yield key, ts
        if frame >= limit:
            break


def estimate_offsets(paths: list[str], limit: int = 200_000) -> list[OffsetEstimate]:
    """Offsets of every capture relative to the first one (whose offset is 0).  Only the first
    capture's segments are kept; the others are matched against them as they are read."""
    if not paths:
        return []
    ref = dict(first_times(paths[0], limit))
    out = [OffsetEstimate(paths[0], 0.0, len(ref))]
    for p in paths[1:]:
        diffs = [ref[k] - t for k, t in first_times(p, limit) if k in ref]
        out.append(OffsetEstimate(p, statistics.median(diffs) if diffs else 0.0, len(diffs)))
    return out
