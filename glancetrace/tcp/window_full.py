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

from ..capture.segment import ACK

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
    """One connection's window-full state, the base of its tally (tcp/stalls.py ConnectionTally).  The
    per-segment rule above runs in the tally's per-segment methods (one call per segment instead of two, the
    in-order case first: benchmarks/README.md); the rare steps are here: the scale from the handshake, a
    period ending, the capture's end, the TcpFacts fields."""

    __slots__ = ("announced", "shift", "edge", "full_since", "full_periods", "full_count", "full_secs", "full_rest")

    def __init__(self) -> None:
        # (tuples until something is found: one per connection of a flood of them costs nothing)
        self.announced = (UNSEEN, UNSEEN)  # per side: the shift its SYN announced, NO_OPTION or UNSEEN
        self.shift: tuple[int | None, int | None] = (None, None)  # per side: its receive window's scale
        self.edge: list[int | None] = [None, None]  # per side: right edge of its receive window (mod 2**32)
        self.full_since: list[tuple[float, int] | None] = [None, None]  # per receiver: full since (time, frame)
        self.full_periods: tuple[WindowFull, ...] | list[WindowFull] = ()
        self.full_count: tuple[int, int] | list[int] = (0, 0)
        self.full_secs: tuple[float, float] | list[float] = (0.0, 0.0)
        self.full_rest: tuple | list[WindowFull | None] = (None, None)  # per side: the periods not kept, folded

    def syn_window(self, d: int, seg) -> None:
        """A SYN or SYN/ACK from side d: the scales both sides use, and the first edge."""
        a = self.announced = (seg.wscale, self.announced[1]) if d == 0 else (self.announced[0], seg.wscale)
        if NO_OPTION in a:  # one side announced none: neither scales
            self.shift = (0, 0)
        elif a[0] >= 0 and a[1] >= 0:
            self.shift = a
        elif seg.flags & ACK and a[d] >= 0:  # a SYN/ACK answers the option only to a SYN that had it
            self.shift = (self.shift[0], a[1]) if d == 1 else (a[0], self.shift[1])
        if seg.flags & ACK:
            self.edge[d] = (seg.ack + seg.window) & M32  # a SYN's own window is never scaled

    def full_ended(self, side: int, end: float | None, frame: int) -> None:
        if not self.full_periods:
            self.full_periods, self.full_count, self.full_secs, self.full_rest = [], [0, 0], [0.0, 0.0], [None, None]
        start, first = self.full_since[side]
        self.full_since[side] = None
        self.full_count[side] += 1
        if end is not None:
            self.full_secs[side] += end - start
        period = WindowFull(SIDES[side], start, end, (first, frame))
        if len(self.full_periods) < MAX_PERIODS:
            self.full_periods.append(period)
        else:
            self.full_rest[side] = _fold(self.full_rest[side], period)

    def finish_full(self, last_frame: int) -> None:
        """The capture ended: periods still open have no end."""
        for side in (0, 1):
            if self.full_since[side] is not None:
                self.full_ended(side, None, last_frame)

    def full_fields(self) -> dict:
        """The TcpFacts fields of this tally (protocols/tcp_facts.py)."""
        return {"window_full": tuple(self.full_periods) + tuple(r for r in self.full_rest if r is not None),
                "window_full_count": tuple(self.full_count), "window_full_seconds": tuple(self.full_secs),
                "window_scale": tuple(self.shift)}


def _fold(rest: WindowFull | None, p: WindowFull) -> WindowFull:
    """`rest` (None, a period or a fold) with period `p` after it."""
    if rest is None:
        return p
    return WindowFull(p.receiver, rest.start, p.end, (rest.frames[0], p.frames[1]), rest.periods + 1,
                      (rest.seconds or 0.0) + (p.seconds or 0.0))
