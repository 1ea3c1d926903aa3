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

from .link import LinkDecoder
from .reader import CaptureReader


@dataclass
class OffsetEstimate:
    path: str
    offset: float  # seconds to add to this capture's timestamps to put them on the first capture's clock
    shared_segments: int


def segment_times(path: str, limit: int = 200_000) -> dict[tuple, float]:
    """First timestamp of each data-carrying segment, for the first `limit` frames."""
    reader = CaptureReader(path)
    link = LinkDecoder()
    ifaces = reader.info.interfaces
    seen: dict[tuple, float] = {}
    for frame, ts, iface, data, _ in reader.packets():
        seg = link.decode(ifaces[iface].linktype, data, ts)
        if seg is not None and len(seg.payload):
            seen.setdefault((seg.src, seg.sport, seg.dst, seg.dport, seg.seq, len(seg.payload) + seg.missing), ts)
        if frame >= limit:
            break
    return seen


def estimate_offsets(paths: list[str], limit: int = 200_000) -> list[OffsetEstimate]:
    """Offsets of every capture relative to the first one (whose offset is 0)."""
    if not paths:
        return []
    ref = segment_times(paths[0], limit)
    out = [OffsetEstimate(paths[0], 0.0, len(ref))]
    for p in paths[1:]:
        other = segment_times(p, limit)
        diffs = [ref[k] - t for k, t in other.items() if k in ref]
        out.append(OffsetEstimate(p, statistics.median(diffs) if diffs else 0.0, len(diffs)))
    return out
