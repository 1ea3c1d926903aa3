"""Who stalled and who hung up, per TCP connection: zero-window periods, retransmissions, FIN and RST.

Beside the reassembler (which it does not change): `TcpStalls.add` passes each segment on to
`TcpReassembler.add` and then looks at the facts reassembly does not keep — the window each side
advertises, which side sent a FIN or a RST and when, and Wireshark's "window full" periods
(tcp/window_full.py).  At the end it emits one `TcpFacts` per connection that had any of them
(protocols/tcp_facts.py TcpFacts).

A zero-window period on side X: X advertised a receive window of 0 (its application stopped
reading: a slow store, a stopped worker) until it advertised a window again; the data towards X
waited meanwhile.  A receiver that keeps reading a little seldom gets there: its window is full
instead (tcp/window_full.py).

Memory is bounded per connection: counts, the first MAX_PERIODS periods and MAX_ENDS FIN/RSTs.
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
    """The mutable tally of one connection while the capture is read."""

    __slots__ = ("conn", "hi", "retrans", "zero_since", "periods", "zcount", "zsecs", "ends", "fins", "wf")

    def __init__(self, conn) -> None:
        self.conn = conn
        self.hi: list[int | None] = [None, None]  # per direction: sequence number after the highest byte sent
        self.retrans = [0, 0]
        self.zero_since: list[tuple[float, int] | None] = [None, None]  # per side: when its window went to 0
        self.periods: list[ZeroWindow] = []
        self.zcount = [0, 0]
        self.zsecs = [0.0, 0.0]
        self.ends: list[TcpEnd] = []
        self.fins = [False, False]
        self.wf = WindowWatch()  # window-full periods (tcp/window_full.py)

    def zero_ended(self, side: int, end: float | None, frame: int) -> None:
        start, first = self.zero_since[side]
        self.zero_since[side] = None
        self.zcount[side] += 1
        if end is not None:
            self.zsecs[side] += end - start
        if len(self.periods) < MAX_PERIODS:
            self.periods.append(ZeroWindow(SIDES[side], start, end, (first, frame)))

    def facts(self, make, capture: int):
        c = self.conn
        return make(c.stream, c.client, c.server, zero_windows=tuple(self.periods), zero_window_count=tuple(self.zcount),
                    zero_window_seconds=tuple(self.zsecs), retransmissions=tuple(self.retrans), ends=tuple(self.ends),
                    capture=capture, **self.wf.fields())


class TcpStalls:
    """Wraps one reassembler's `add`: `add(seg, ts, frame)` feeds it, then keeps the facts above.
    `make` builds the event a connection's facts are handed on as (protocols/tcp_facts.py TcpFacts: the
    event classes live above this layer, so the pipeline passes it in)."""

    def __init__(self, tcp, capture: int, make) -> None:
        self._make = make
        self._tcp_add = tcp.add
        self._flows = tcp.flows
        self._capture = capture
        self._watch: dict[object, _Watch] = {}  # Connection (hashed by identity) → its tally
        self._zero = 0  # sides whose window is 0 now: while none is, a bare ACK with a window tells nothing

    def add(self, seg: Segment, ts: float, frame: int) -> None:
        self._tcp_add(seg, ts, frame)
        flags = seg.flags
        # every segment is looked up, bare ACKs too: window-full needs each receiver's ACK and window (cost: benchmarks/README)
        entry = self._flows.get((seg.src, seg.sport, seg.dst, seg.dport))
        if entry is None:
            return
        conn, d = entry
        w = self._watch.get(conn)
        if w is None:
            w = self._watch[conn] = _Watch(conn)
        # d is the side that sent this segment (0 client, 1 server): its window is its own receive window
        if flags & (SYN | RST) == 0:
            if seg.window == 0:
                if w.zero_since[d] is None:
                    w.zero_since[d] = (ts, frame)
                    self._zero += 1
            elif w.zero_since[d] is not None:
                w.zero_ended(d, ts, frame)
                self._zero -= 1
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
            self._end(w, d, flags, ts, frame)

    @staticmethod
    def _end(w: _Watch, d: int, flags: int, ts: float, frame: int) -> None:
        if flags & RST:
            kind = "rst"
        elif w.fins[d]:
            return  # a retransmitted FIN
        else:
            w.fins[d] = True
            kind = "fin"
        if len(w.ends) < MAX_ENDS:
            w.ends.append(TcpEnd(kind, SIDES[d], ts, frame))

    def finish(self) -> list:
        """The facts of every connection that had a zero window, a retransmission, a FIN or a RST."""
        out = []
        for w in self._watch.values():
            for side in (0, 1):
                if w.zero_since[side] is not None:
                    w.zero_ended(side, None, w.conn.last_frame)
            w.wf.finish(w.conn.last_frame)
            if w.wf.count[0] or w.wf.count[1] or w.periods or any(w.zcount) or any(w.retrans) or w.ends:
                out.append(w.facts(self._make, self._capture))
        self._watch.clear()
        return out
