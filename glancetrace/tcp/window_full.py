"""Wireshark's "window full", per connection: the sender filled the receive window the other side
advertised and had to wait for it to read.

A slow receiver that keeps reading a little (a slow store) seldom advertises a zero window: it ACKs
what it read with a small window, the sender sends exactly up to that window's right edge (the ACK
number plus the window times its scale) and waits again.  A period on side X (the receiver) starts
at the data segment that reached X's right edge (tshark's `tcp.analysis.window_full`: the segment
ends exactly at the last ACK + window << scale of the other side) and ends at X's segment that moved
the edge on (an ACK or a window update: the sender may go on); still full at the capture's end: no end.

The window scale comes from the SYN and SYN/ACK (capture/segment.py passes their option 3 on).  Both
announce a shift or neither side scales (RFC 7323 1.3): a SYN seen without the option means 0 for
both; a SYN/ACK with one proves the SYN had one, so the server's shift is known without the SYN.
Otherwise (the handshake not captured: a capture started mid-upload) the scale is unknown and no
window-full period is claimed on that side (its `window_scale` is None), as tshark does by default:
guessing a shift from the flights would turn any coincidence into a stall.

Per segment: a few integer operations; per connection: counts, total seconds, the first MAX_PERIODS
periods and, per side, the later ones folded into one (from the first's start to the last's end, with
their count and total): a slow store's upload has hundreds, and where they lie still matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..capture.segment import ACK, FIN, RST, SYN

M32 = 0xFFFFFFFF
MAX_PERIODS = 16  # window-full periods kept per connection (the rest are counted)
SIDES = ("client", "server")
UNSEEN, NO_OPTION = -2, -1  # what a side's SYN announced: not captured, no window scale option


@dataclass(frozen=True)
class WindowFull:
    """`receiver`'s window was full from `start` until `end` (None: still full at the capture's end)."""

    receiver: str  # "client" | "server": the side that read slower than the other sent
    start: float
    end: float | None
    frames: tuple[int, int]  # the data segment that filled the window, the receiver's that moved it on
    periods: int = 1  # more: the periods after the first MAX_PERIODS folded into one
    full_seconds: float = 0.0  # a fold's total time full (the time between its periods not counted)

    @property
    def seconds(self) -> float | None:
        if self.periods > 1:
            return self.full_seconds
        return None if self.end is None else self.end - self.start


class WindowWatch:
    """One connection's window-full tally; `add` sees each of its segments (d: 0 client sent it, 1 server)."""

    __slots__ = ("announced", "shift", "edge", "since", "periods", "count", "secs", "rest")

    def __init__(self) -> None:
        # (tuples until something is found: one per connection of a flood of them costs nothing)
        self.announced = (UNSEEN, UNSEEN)  # per side: the shift its SYN announced, NO_OPTION or UNSEEN
        self.shift: tuple[int | None, int | None] = (None, None)  # per side: its receive window's scale
        self.edge: list[int | None] = [None, None]  # per side: right edge of its receive window (mod 2**32)
        self.since: list[tuple[float, int] | None] = [None, None]  # per receiver: full since (time, frame)
        self.periods: tuple[WindowFull, ...] | list[WindowFull] = ()
        self.count: tuple[int, int] | list[int] = (0, 0)
        self.secs: tuple[float, float] | list[float] = (0.0, 0.0)
        self.rest: tuple | list[WindowFull | None] = (None, None)  # per side: the periods not kept, folded

    def add(self, d: int, seg, plen: int, ts: float, frame: int) -> None:
        flags = seg.flags
        if flags & SYN:
            self._syn(d, seg)
            return
        shift = self.shift[d]
        if shift is not None and flags & (ACK | RST) == ACK:  # d's ACK and window: the edge towards d
            edge = (seg.ack + (seg.window << shift)) & M32
            if self.since[d] is not None:
                ahead = (edge - self.edge[d]) & M32
                if ahead and not ahead & 0x80000000:
                    self._ended(d, ts, frame)
            self.edge[d] = edge
        r = 1 - d
        if plen and self.since[r] is None and self.edge[r] == (seg.seq + plen) & M32 and not flags & (FIN | RST):
            self.since[r] = (ts, frame)

    def _syn(self, d: int, seg) -> None:
        a = self.announced = (seg.wscale, self.announced[1]) if d == 0 else (self.announced[0], seg.wscale)
        if NO_OPTION in a:  # one side announced none: neither scales
            self.shift = (0, 0)
        elif a[0] >= 0 and a[1] >= 0:
            self.shift = a
        elif seg.flags & ACK and a[d] >= 0:  # a SYN/ACK answers the option only to a SYN that had it
            self.shift = (self.shift[0], a[1]) if d == 1 else (a[0], self.shift[1])
        if seg.flags & ACK:
            self.edge[d] = (seg.ack + seg.window) & M32  # a SYN's own window is never scaled

    def _ended(self, side: int, end: float | None, frame: int) -> None:
        if not self.periods:
            self.periods, self.count, self.secs, self.rest = [], [0, 0], [0.0, 0.0], [None, None]
        start, first = self.since[side]
        self.since[side] = None
        self.count[side] += 1
        if end is not None:
            self.secs[side] += end - start
        period = WindowFull(SIDES[side], start, end, (first, frame))
        if len(self.periods) < MAX_PERIODS:
            self.periods.append(period)
        else:
            self.rest[side] = _fold(self.rest[side], period)

    def finish(self, last_frame: int) -> None:
        """The capture ended: periods still open have no end."""
        for side in (0, 1):
            if self.since[side] is not None:
                self._ended(side, None, last_frame)

    def fields(self) -> dict:
        """The TcpFacts fields of this tally (protocols/tcp_facts.py)."""
        return {"window_full": tuple(self.periods) + tuple(r for r in self.rest if r is not None),
                "window_full_count": tuple(self.count), "window_full_seconds": tuple(self.secs),
                "window_scale": tuple(self.shift)}


def _fold(rest: WindowFull | None, p: WindowFull) -> WindowFull:
    """`rest` (None, a period or a fold) with period `p` after it."""
    if rest is None:
        return p
    return WindowFull(p.receiver, rest.start, p.end, (rest.frames[0], p.frames[1]), rest.periods + 1,
                      (rest.seconds or 0.0) + (p.seconds or 0.0))
