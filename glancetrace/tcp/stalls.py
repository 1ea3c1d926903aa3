"""Who stalled and who hung up, per TCP connection: zero-window periods, retransmissions, FIN and RST.

Beside the reassembler (which it does not change): the reassembler shows it each segment with the
connection and direction it found (`TcpReassembler.observe`: no second flow lookup), and it keeps the
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

from ..capture.segment import FIN, RST, SYN, Segment
from .window_full import WindowWatch

M32 = 0xFFFFFFFF
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


class _Watch:
    """The mutable tally of one connection while the capture is read (kept on the connection: `Connection.tally`).
    Most connections never stall: what only a stall or an end needs is made when first needed."""

    __slots__ = ("hi", "retrans", "zero_since", "periods", "zcount", "zsecs", "ends", "fins", "wf")

    def __init__(self) -> None:
        self.hi: list[int | None] = [None, None]  # per direction: sequence number after the highest byte sent
        self.retrans = [0, 0]
        self.zero_since: list[tuple[float, int] | None] | None = None  # per side: when its window went to 0
        self.periods: list[ZeroWindow] | None = None
        self.zcount: list[int] | None = None  # per side: zero-window periods (also those not kept)
        self.zsecs: list[float] | None = None
        self.ends: list[TcpEnd] | None = None
        self.fins: list[bool] | None = None
        self.wf = WindowWatch()  # window-full periods (tcp/window_full.py)

    def zero_started(self, side: int, ts: float, frame: int) -> None:
        if self.zero_since is None:
            self.zero_since, self.periods, self.zcount, self.zsecs = [None, None], [], [0, 0], [0.0, 0.0]
        self.zero_since[side] = (ts, frame)

    def zero_ended(self, side: int, end: float | None, frame: int) -> None:
        start, first = self.zero_since[side]
        self.zero_since[side] = None
        self.zcount[side] += 1
        if end is not None:
            self.zsecs[side] += end - start
        if len(self.periods) < MAX_PERIODS:
            self.periods.append(ZeroWindow(SIDES[side], start, end, (first, frame)))

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
        """Zero windows and full windows still open when the watch ends: periods without an end."""
        self.wf.finish(frame)
        if self.zero_since is not None:
            for side in (0, 1):
                if self.zero_since[side] is not None:
                    self.zero_ended(side, None, frame)

    def worth_keeping(self, conn) -> bool:
        """A zero window, a full window, a retransmission or a RST; or a FIN of a connection that carried data (the analysis
        reads a FIN only for connections with calls or statements: a FIN alone of an empty one tells nothing)."""
        if self.zcount is not None or self.retrans[0] or self.retrans[1] or self.wf.count[0] or self.wf.count[1]:
            return True
        if not self.ends:
            return False
        return any(e.kind == "rst" for e in self.ends) or any(ds.delivered for ds in conn.dirs)

    def facts(self, make, capture: int, stream: int, client: str, server: str):
        return make(stream, client, server, zero_windows=tuple(self.periods or ()),
                    zero_window_count=tuple(self.zcount or (0, 0)), zero_window_seconds=tuple(self.zsecs or (0.0, 0.0)),
                    retransmissions=tuple(self.retrans), ends=tuple(self.ends or ()), capture=capture,
                    **self.wf.fields())


class TcpStalls:
    """The reassembler's segment observer (`TcpReassembler.observe`): it is shown each segment with the connection
    and direction reassembly already found, and keeps the facts above.  `make` builds the event a connection's
    facts are handed on as (protocols/tcp_facts.py TcpFacts: the event classes live above this layer, so the
    pipeline passes it in)."""

    def __init__(self, tcp, capture: int, make) -> None:
        self._make = make
        self._tcp = tcp
        self.add = tcp.add  # feeding the reassembler is feeding this
        self._capture = capture
        self._done: dict[int, tuple[_Watch, str, str]] = {}  # stream → tally of a packed-away connection worth keeping
        tcp.observe(self)

    def segment(self, conn, d: int, seg: Segment, ts: float, frame: int) -> None:
        flags = seg.flags
        # bare ACKs too: window-full needs each receiver's ACK and window (cost: benchmarks/README)
        w = conn.tally
        if w is None:
            w = conn.tally = self._new_watch(conn)
        # d is the side that sent this segment (0 client, 1 server): its window is its own receive window
        if flags & (SYN | RST) == 0:
            if seg.window == 0:
                if w.zero_since is None or w.zero_since[d] is None:
                    w.zero_started(d, ts, frame)
            elif w.zero_since is not None and w.zero_since[d] is not None:
                w.zero_ended(d, ts, frame)
        plen = len(seg.payload) + seg.missing
        w.wf.add(d, seg, plen, ts, frame)
        if plen:
            hi = w.hi[d]
            end = (seg.seq + plen) & M32
            ahead = (end - hi) & M32 if hi is not None else 1
            if ahead == 0 or ahead & 0x80000000:  # ends at or before the highest byte already sent
                w.retrans[d] += 1
            else:
                w.hi[d] = end
        if flags & (FIN | RST):
            w.ended(d, flags, ts, frame)

    def _new_watch(self, conn) -> _Watch:
        """A fresh tally, or the one kept when this connection (released as idle) was packed away."""
        kept = self._done.pop(conn.stream, None) if self._done else None
        return kept[0] if kept is not None else _Watch()

    def released(self, conn) -> None:
        """The reassembler packs `conn` away: its tally is let go, kept only when worth keeping."""
        w, conn.tally = conn.tally, None
        if w is None:
            return
        w.close_periods(conn.last_frame)
        if w.worth_keeping(conn):
            self._done[conn.stream] = (w, conn.client, conn.server)

    def finish(self) -> list:
        """The facts of every connection that had a zero window, a retransmission, a RST, or a FIN after data."""
        kept = dict(self._done)
        for conn in self._tcp.connections.live():
            w = conn.tally
            if w is not None:
                conn.tally = None
                w.close_periods(conn.last_frame)
                if w.worth_keeping(conn):
                    kept[conn.stream] = (w, conn.client, conn.server)
        self._done.clear()
        return [w.facts(self._make, self._capture, stream, client, server)
                for stream, (w, client, server) in sorted(kept.items())]
