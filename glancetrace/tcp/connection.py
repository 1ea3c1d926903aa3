"""State of one TCP connection and of each of its directions, and the out-of-order buffer.

Segments that arrive ahead of a hole wait in `Direction.pending` (stream offset → segment), with a
heap of those offsets so the earliest is found in O(log n) whatever the arrival order (a million
segments in reverse order cost n log n, not n²).  What waits is bounded in memory, bookkeeping
included (ENTRY_COST per segment): a flood of one-byte segments cannot hold 150 times its size.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Callable, Protocol

from ..capture.segment import Segment

M32 = 0xFFFFFFFF
PENDING_LIMIT = 2 << 20  # memory held out of order per direction (or held answers per connection)
ACK_JUMP_LIMIT = 1 << 30  # an ACK/FIN/segment further ahead (or behind) than this is bogus, not a neighbour
ENTRY_COST = 160  # bytes of bookkeeping per waiting segment (tuple, bytes header, time, frame, slots)


def signed32(x: int) -> int:
    """A difference of two sequence numbers, modulo 2**32, as a signed 32-bit number."""
    x &= M32
    return x - (1 << 32) if x & 0x80000000 else x


def format_ip(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def format_endpoint(raw: bytes, port: int) -> str:
    return f"{format_ip(raw)}:{port}" if len(raw) == 4 else f"[{format_ip(raw)}]:{port}"


class StreamHandler(Protocol):
    def data(self, direction: int, payload: memoryview, ts: float, frame: int) -> None: ...
    def gap(self, direction: int, nbytes: int, ts: float, frame: int) -> None: ...
    def close(self, ts: float, frame: int, reason: str) -> None: ...


@dataclass(slots=True)
class Direction:
    next_seq: int | None = None  # next expected 32-bit sequence number
    offset: int = 0  # bytes (data + gaps) accounted so far, as a 64-bit stream offset
    pending: dict[int, tuple[bytes, int, float, int]] | None = None  # out of order, by offset
    heap: list[int] | None = None  # the offsets of `pending`, earliest first
    pending_bytes: int = 0  # memory `pending` holds, ENTRY_COST per segment included
    delivered: int = 0
    gap_bytes: int = 0
    retransmitted: int = 0
    conflicting_overlaps: int = 0
    syn: bool = False
    isn: int | None = None  # sequence number of this side's SYN
    fin: bool = False
    packets: int = 0
    acked_to: int | None = None  # stream offset proven sent (acknowledged, FIN) beyond what arrived
    acked_mark: int = 0  # the connection's `news` when that was first seen …
    acked_ts: float = 0.0  # … and the capture time
    fin_at: int | None = None  # stream offset of a FIN seen before all the data it ends
    last_ack: int = -1  # ACK number of this side's last pure ACK (to spot repeated ones)
    peer_ack: int | None = None  # the peer's ACK number seen before this side's first segment

    def wait(self, key: int, payload: memoryview, missing: int, ts: float, frame: int) -> bool:
        """Keep an out-of-order segment at stream offset `key`; False when it brings nothing new
        (a copy of one already waiting there).  Counts a conflicting overlap."""
        if self.pending is None:
            self.pending, self.heap = {}, []
        old = self.pending.get(key)
        if old is not None:
            n = len(old[0])
            if bytes(payload[:n]) != old[0][:len(payload)]:
                self.conflicting_overlaps += 1
            if n + old[1] >= len(payload) + missing:
                return False
            self.pending_bytes -= n + ENTRY_COST
        else:
            heappush(self.heap, key)
        self.pending[key] = (bytes(payload), missing, ts, frame)
        self.pending_bytes += len(payload) + ENTRY_COST
        return True

    def first_waiting(self) -> int | None:
        return self.heap[0] if self.heap else None

    def pop_waiting(self) -> tuple[int, tuple[bytes, int, float, int]]:
        """The earliest waiting segment (its offset and what `wait` kept)."""
        key = heappop(self.heap)
        entry = self.pending.pop(key)
        self.pending_bytes -= len(entry[0]) + ENTRY_COST
        if not self.heap:
            self.pending = self.heap = None  # most directions never wait: no empty containers kept
        return key, entry


@dataclass(slots=True, frozen=True)
class DirectionSummary:
    """What is kept of a direction once its connection closed (a tenth of a live Direction's memory
    for a connection that carried nothing: they share one)."""
    next_seq: int | None = None
    offset: int = 0
    delivered: int = 0
    gap_bytes: int = 0
    retransmitted: int = 0
    conflicting_overlaps: int = 0
    syn: bool = False
    isn: int | None = None
    fin: bool = False
    pending = None  # nothing waits any more
    acked_to = None

    @classmethod
    def of(cls, ds: Direction) -> "DirectionSummary":
        if ds.next_seq is None and not ds.syn and not ds.packets:
            return _UNSEEN
        return cls(ds.next_seq, ds.offset, ds.delivered, ds.gap_bytes, ds.retransmitted,
                   ds.conflicting_overlaps, ds.syn, ds.isn, ds.fin)

    def revived(self) -> Direction:
        return Direction(next_seq=self.next_seq, offset=self.offset, delivered=self.delivered,
                         gap_bytes=self.gap_bytes, retransmitted=self.retransmitted,
                         conflicting_overlaps=self.conflicting_overlaps, syn=self.syn, isn=self.isn,
                         fin=self.fin)


_UNSEEN = DirectionSummary()


@dataclass(slots=True, eq=False)
class Connection:
    stream: int  # Wireshark's tcp.stream
    client_raw: tuple[bytes, int]  # the side that opened (or is taken to have opened) it
    server_raw: tuple[bytes, int]
    first_ts: float
    first_frame: int
    last_ts: float = 0.0
    last_frame: int = 0
    dirs: tuple[Direction, Direction] = None  # type: ignore[assignment]  # set in __post_init__;
    # DirectionSummary once closed
    handler: StreamHandler | None = None
    midstream: bool = False  # no SYN seen: the capture started after the handshake
    closed: str = ""  # "", "fin", "rst", "end of capture", "port reused", "idle" (reassembly.LIVE_LIMIT)
    decoded: bool = False  # a decoder handled it (its handler is dropped once closed)
    rst: bool = False
    repeats: int = 0  # packets that brought nothing new (repeated pure ACKs, whole retransmissions)
    held: object | None = None  # held.HeldAnswers: answers captured before what they answer
    tally: object | None = None  # the segment observer's own state for it (SegmentTally: tcp/stalls.py)
    # when its decoder closed having decoded nothing from its bytes (the pipeline sets it for MySQL: no
    # event kept for such a connection, which the analysis reads from here)
    silent_at: float | None = None

    def __post_init__(self):
        if self.dirs is None:
            self.dirs = (Direction(), Direction())

    def summarise(self) -> None:
        """Closed: keep the counts, release the rest."""
        self.dirs = (DirectionSummary.of(self.dirs[0]), DirectionSummary.of(self.dirs[1]))
        self.held = None

    def revive(self) -> None:
        self.dirs = (self.dirs[0].revived(), self.dirs[1].revived())

    @property
    def client(self) -> str:
        """"ip:port" (made when asked: 200k text pairs kept for connections that carried nothing
        cost 25 MB)."""
        return format_endpoint(*self.client_raw)

    @property
    def server(self) -> str:
        return format_endpoint(*self.server_raw)

    @property
    def server_port(self) -> int:
        return self.server_raw[1]

    @property
    def news(self) -> int:
        """Packets that brought something new: the clock of the reordering window (so the copies
        `-i any` or a mirror port adds do not shorten it)."""
        return self.dirs[0].packets + self.dirs[1].packets - self.repeats


HandlerFactory = Callable[[Connection], "StreamHandler | None"]


def proven_sent(ds: Direction, upto: int, news: int, ts: float) -> None:
    """Bytes up to stream offset `upto` were sent (acknowledged, or numbered before a later
    segment): missing ones wait for the reordering window before they become a gap."""
    if ds.acked_to is None:
        ds.acked_mark, ds.acked_ts = news, ts
    ds.acked_to = max(ds.acked_to or 0, upto)


def unaccounted(ds: Direction) -> bool:
    """Nothing of this direction's stream delivered, counted lost or waiting yet."""
    return ds.offset == 0 and ds.pending is None and ds.fin_at is None and not ds.fin


def restart_at(ds: Direction, seq: int) -> None:
    ds.next_seq = seq
    ds.acked_to = None  # measured from the old start: the next ACK proves again


def reopened(ds: Direction, seq: int) -> bool:
    """A SYN with another initial sequence number after this side's data: a new connection on the
    same ports whose predecessor was not seen to close (FIN or RST lost).  Wireshark starts a new
    tcp.stream on the same rule; a SYN with the same number is a retransmission for both."""
    return ds.isn is not None and seq != ds.isn and (ds.offset > 0 or ds.fin)


class SegmentTally(Protocol):
    """An observer's state for one connection (`Connection.tally`): shown each of its segments."""

    def segment(self, d: int, seg: Segment, ts: float, frame: int) -> None: ...

    def in_order(self, d: int, seg: Segment, n: int, end: int, ts: float, frame: int) -> None:
        """A segment of the reassembler's fast path: no SYN, FIN or RST, nothing cut off, `n` bytes at the
        next sequence number of side d, `end` the sequence number after them."""


class SegmentObserver(Protocol):
    """Watches the segments beside reassembly (tcp/stalls.py), through `TcpReassembler.observe`."""

    def tally(self, conn: Connection) -> SegmentTally:
        """The tally `conn`'s segments are shown to (made at its first segment, or after it was packed)."""

    def released(self, conn: Connection) -> None:
        """`conn` is packed away (tcp/table.py): its later segments, if any, are not shown."""
