"""Who stalled and who hung up, per TCP connection: zero-window periods, retransmissions, FIN and RST.

Beside the reassembler (which it does not change): the reassembler shows it each segment with the
connection and direction it found (`TcpReassembler.observe`: no second flow lookup; a segment of its fast
path with the sequence number after it, `ConnectionTally.in_order`), and it keeps the
facts reassembly does not — the window each side advertises, which side sent a FIN or a RST and when.
It also keeps Wireshark's "window full" periods (tcp/window_full.py).  At the end it emits one
`TcpFacts` per connection that had a zero window, a full window, a retransmission, a RST, or a FIN after
data (protocols/tcp_facts.py TcpFacts).

A zero-window period on side X: X advertised a receive window of 0 (its application stopped
reading: a slow store, a stopped worker) until it advertised a window again; the data towards X
waited meanwhile.  A receiver that keeps reading a little seldom gets there: its window is full
instead (tcp/window_full.py).

Memory is bounded per connection: counts, the first MAX_PERIODS periods and MAX_ENDS FIN/RSTs; a
connection that never stalled keeps two pairs of numbers, and nothing once the reassembler packs it away
(tcp/table.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..capture.segment import ACK, FIN, RST, SYN, Segment
from .window_full import WindowWatch

M32 = 0xFFFFFFFF
WRAP = 1 << 32
MAX_PERIODS = 16  # zero-window periods kept per connection (the rest are counted)
MAX_ENDS = 6  # FIN/RST segments kept per connection (first FIN per side, first RSTs)
SIDES = ("client", "server")


@dataclass(frozen=True)
class ZeroWindow:
    """`receiver` advertised a zero window from `start` until `end` (None: still at the capture's end)."""

    receiver: str  # "client" | "server": the side that stopped reading
    start: float
    end: float | None
    frames: tuple[int, int]  # first zero-window segment, the segment that opened the window again

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True)
class TcpEnd:
    kind: str  # "fin" | "rst"
    sender: str  # "client" | "server"
    time: float
    frame: int


class ConnectionTally(WindowWatch):
    """One connection's tally while the capture is read (kept on the connection: `Connection.tally`); the
    reassembler hands it each segment.  Most connections never stall: what only a stall or an end needs is
    made when first needed.  The window-full state and its rare steps are the base class's
    (tcp/window_full.py)."""

    __slots__ = ("hi", "retrans", "stalled", "zero_since", "zero_periods", "zero_count", "zero_secs", "ends", "fins")

    def __init__(self) -> None:
        super().__init__()
        self.hi: list[int | None] = [None, None]  # per direction: sequence number after the highest byte sent
        self.retrans = [0, 0]
        self.stalled = False  # a zero window or a full window is open (on either side): `in_order` steps aside
        self.zero_since: list[tuple[float, int] | None] | None = None  # per side: when its window went to 0
        self.zero_periods: list[ZeroWindow] | None = None
        self.zero_count: list[int] | None = None  # per side: zero-window periods (also those not kept)
        self.zero_secs: list[float] | None = None
        self.ends: list[TcpEnd] | None = None
        self.fins: list[bool] | None = None

    def in_order(self, d: int, seg: Segment, n: int, end: int, ts: float, frame: int) -> None:
        """A segment the reassembler's fast path took (the bulk of an upload and its ACKs): no SYN, FIN or
        RST, nothing cut off, `n` bytes at the next sequence number, `end` the one after them.  What `segment`
        does, for a connection with no period open (else `segment` does it): a call and half the tests fewer
        per segment, the reassembler's sum reused."""
        window = seg.window
        if not window or self.stalled:
            return self.segment(d, seg, ts, frame)
        shift = self.shift[d]
        if shift is not None and seg.flags & ACK:
            edge = seg.ack + (window << shift)
            self.edge[d] = edge if edge <= M32 else edge - WRAP
        if n:
            hi = self.hi
            seq = seg.seq
            if seq == hi[d] or hi[d] is None:
                hi[d] = end
            else:
                self.sent_again(d, end)
            if self.edge[1 - d] == end:
                self.full_started(1 - d, ts, frame)

    def segment(self, d: int, seg: Segment, ts: float, frame: int) -> None:
        """Segment `seg`, sent by side d (0 client, 1 server; its window is its own receive window).
        Sequence numbers above 2**30 are two-digit ints, each sum a new object: wrapped by a test, not a mask."""
        flags = seg.flags
        plen = len(seg.payload) + seg.missing
        if flags & SYN:
            self.syn_window(d, seg)
            if flags & (FIN | RST):  # (a scan's SYN/FIN)
                self.ended(d, flags, ts, frame)
        else:
            window = seg.window
            if flags & RST:
                pass  # a RST's window means nothing
            elif not window:
                if self.zero_since is None or self.zero_since[d] is None:
                    self.zero_started(d, ts, frame)
            elif self.zero_since is not None and self.zero_since[d] is not None:
                self.zero_ended(d, ts, frame)
            shift = self.shift[d]
            if shift is not None and flags & (ACK | RST) == ACK:  # d's ACK and window: the right edge of d's window
                edge = seg.ack + (window << shift)
                if edge > M32:
                    edge -= WRAP
                if self.full_since[d] is not None:
                    ahead = (edge - self.edge[d]) & M32
                    if ahead and not ahead & 0x80000000:  # moved on: the sender may go on
                        self.full_ended(d, ts, frame)
                self.edge[d] = edge
            if flags & (FIN | RST):
                self.ended(d, flags, ts, frame)
        if plen:
            seq = seg.seq
            end = seq + plen
            if end > M32:
                end -= WRAP
            hi = self.hi[d]
            if seq == hi or hi is None:  # the next new bytes (nearly always)
                self.hi[d] = end
            else:
                self.sent_again(d, end)
            if not flags & (SYN | FIN | RST) and self.edge[1 - d] == end and self.full_since[1 - d] is None:
                self.full_started(1 - d, ts, frame)

    def sent_again(self, d: int, end: int) -> None:
        """Bytes of side d ending at `end` that do not start at its highest byte sent: a retransmission when
        they end at or before it."""
        ahead = (end - self.hi[d]) & M32
        if ahead == 0 or ahead & 0x80000000:
            self.retrans[d] += 1
        else:
            self.hi[d] = end

    def full_started(self, side: int, ts: float, frame: int) -> None:
        """Data reached `side`'s right edge: its window is full."""
        self.full_since[side] = (ts, frame)
        self.stalled = True

    def full_ended(self, side: int, end: float | None, frame: int) -> None:
        super().full_ended(side, end, frame)
        self.stalled = self._open()

    def zero_started(self, side: int, ts: float, frame: int) -> None:
        if self.zero_since is None:
            self.zero_since, self.zero_periods, self.zero_count, self.zero_secs = [None, None], [], [0, 0], [0.0, 0.0]
        self.zero_since[side] = (ts, frame)
        self.stalled = True

    def zero_ended(self, side: int, end: float | None, frame: int) -> None:
        start, first = self.zero_since[side]
        self.zero_since[side] = None
        self.zero_count[side] += 1
        if end is not None:
            self.zero_secs[side] += end - start
        if len(self.zero_periods) < MAX_PERIODS:
            self.zero_periods.append(ZeroWindow(SIDES[side], start, end, (first, frame)))
        self.stalled = self._open()

    def _open(self) -> bool:
        """A zero window or a full window open on either side."""
        zs, fs = self.zero_since, self.full_since
        return fs[0] is not None or fs[1] is not None or zs is not None and (zs[0] is not None or zs[1] is not None)

    def ended(self, d: int, flags: int, ts: float, frame: int) -> None:
        if self.ends is None:
            self.ends, self.fins = [], [False, False]
        if flags & RST:
            kind = "rst"
        elif self.fins[d]:
            return  # a retransmitted FIN
        else:
            self.fins[d] = True
            kind = "fin"
        if len(self.ends) < MAX_ENDS:
            self.ends.append(TcpEnd(kind, SIDES[d], ts, frame))

    def close_periods(self, frame: int) -> None:
        """Zero windows and full windows still open when the capture ends: periods without an end."""
        self.finish_full(frame)
        if self.zero_since is not None:
            for side in (0, 1):
                if self.zero_since[side] is not None:
                    self.zero_ended(side, None, frame)

    def worth_keeping(self, conn) -> bool:
        """A zero window, a full window (open or over), a retransmission or a RST; or a FIN of a connection
        that carried data (the analysis reads a FIN only for connections with calls or statements: a FIN
        alone of an empty one tells nothing)."""
        if (self.zero_count is not None or self.retrans[0] or self.retrans[1] or self.full_count[0]
                or self.full_count[1] or self.full_since[0] is not None or self.full_since[1] is not None):
            return True
        if not self.ends:
            return False
        return any(e.kind == "rst" for e in self.ends) or any(ds.delivered for ds in conn.dirs)

    def facts(self, make, capture: int, stream: int, client: str, server: str):
        return make(stream, client, server, zero_windows=tuple(self.zero_periods or ()),
                    zero_window_count=tuple(self.zero_count or (0, 0)),
                    zero_window_seconds=tuple(self.zero_secs or (0.0, 0.0)),
                    retransmissions=tuple(self.retrans), ends=tuple(self.ends or ()), capture=capture,
                    **self.full_fields())


class TcpStalls:
    """The reassembler's segment observer (`TcpReassembler.observe`): it gives each connection its tally, which
    the reassembler shows every segment with the connection and direction it already found, and keeps the
    facts above.  `make` builds the event a connection's facts are handed on as (protocols/tcp_facts.py
    TcpFacts: the event classes live above this layer, so the pipeline passes it in)."""

    def __init__(self, tcp, capture: int, make) -> None:
        self._make = make
        self._tcp = tcp
        self.add = tcp.add  # feeding the reassembler is feeding this
        self._capture = capture
        # stream → (tally, client, server, last frame) of a packed-away connection worth keeping
        self._done: dict[int, tuple[ConnectionTally, str, str, int]] = {}
        tcp.observe(self)

    def tally(self, conn) -> ConnectionTally:
        """A fresh tally, or the one kept when this connection (released as idle) was packed away: its
        periods still open go on."""
        kept = self._done.pop(conn.stream, None) if self._done else None
        return kept[0] if kept is not None else ConnectionTally()

    def released(self, conn) -> None:
        """The reassembler packs `conn` away: its tally is let go, kept only when worth keeping (open
        periods stay open: a connection released as idle may speak again)."""
        w, conn.tally = conn.tally, None
        if w is not None and w.worth_keeping(conn):
            self._done[conn.stream] = (w, conn.client, conn.server, conn.last_frame)

    def finish(self) -> list:
        """The facts of every connection that had a zero window, a retransmission, a RST, or a FIN after data."""
        kept = dict(self._done)
        for conn in self._tcp.connections.live():
            w = conn.tally
            if w is not None:
                conn.tally = None
                if w.worth_keeping(conn):
                    kept[conn.stream] = (w, conn.client, conn.server, conn.last_frame)
        self._done.clear()
        out = []
        for stream, (w, client, server, last_frame) in sorted(kept.items()):
            w.close_periods(last_frame)
            out.append(w.facts(self._make, self._capture, stream, client, server))
        return out
