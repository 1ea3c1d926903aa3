"""TCP reassembly: segments in capture order → ordered byte streams per direction.

Each connection gets a handler from a factory (or None: the connection is
only counted).  Handlers receive `data(direction, bytes, ts, frame)`,
`gap(direction, nbytes, ts, frame)` and `close(ts, frame, reason)`;
direction 0 is client → server, 1 is server → client.

Sequence numbers are tracked as 64-bit offsets so streams longer than 4 GiB
and 32-bit wrap-around work.  Out-of-order segments wait in a small buffer;
a hole becomes a reported gap when the peer acknowledges past it (the bytes
were received, just not captured), when the buffer grows past its limit, or
when the connection ends.  Stream numbers follow Wireshark's `tcp.stream`
(order of first appearance, a new number when a closed 4-tuple is reused).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..capture.segment import ACK, FIN, RST, SYN, Segment

M32 = 0xFFFFFFFF
PENDING_LIMIT = 2 << 20  # bytes held out of order per direction before a hole is declared lost
IDLE_SECONDS = 300.0  # out-of-order bytes waiting longer than this (capture time) are given up as a gap
SWEEP_EVERY = 1 << 16  # segments between idle sweeps
REORDER_PACKETS = 8  # packets an acknowledged hole may wait for its late data before it is a gap
ACK_JUMP_LIMIT = 1 << 30  # an ACK/FIN further ahead than this is bogus, not proof of lost bytes


def _signed32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x & 0x80000000 else x


def _proven_sent(ds: "Direction", upto: int, now: int) -> None:
    """Bytes up to stream offset `upto` were sent (acknowledged, or numbered before a later
    segment): missing ones wait REORDER_PACKETS packets from `now` before they become a gap."""
    if ds.acked_to is None:
        ds.acked_mark = now
    ds.acked_to = max(ds.acked_to or 0, upto)


def _reopened(ds: Direction, seq: int) -> bool:
    """A SYN with another initial sequence number after this side's data: a new connection on the
    same ports whose predecessor was not seen to close (FIN or RST lost).  Wireshark starts a new
    tcp.stream on the same rule; a SYN with the same number is a retransmission for both."""
    return ds.isn is not None and seq != ds.isn and (ds.offset > 0 or ds.fin)


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
    pending: dict[int, tuple[bytes, int, float, int]] = field(default_factory=dict)
    pending_bytes: int = 0
    delivered: int = 0
    gap_bytes: int = 0
    retransmitted: int = 0
    conflicting_overlaps: int = 0
    syn: bool = False
    isn: int | None = None  # sequence number of this side's SYN
    fin: bool = False
    packets: int = 0
    acked_to: int | None = None  # stream offset the peer acknowledged beyond what arrived
    acked_mark: int = 0  # the connection's packet count when that was first seen
    fin_at: int | None = None  # stream offset of a FIN seen before all the data it ends
    last_ack: int = -1  # ACK number of this side's last pure ACK (to spot repeated ones)


@dataclass(slots=True, eq=False)
class Connection:
    stream: int  # Wireshark's tcp.stream
    client: str  # "ip:port" of the side that opened (or is taken to have opened) it
    server: str
    client_raw: tuple[bytes, int]
    server_raw: tuple[bytes, int]
    first_ts: float
    first_frame: int
    last_ts: float = 0.0
    last_frame: int = 0
    dirs: tuple[Direction, Direction] = field(default_factory=lambda: (Direction(), Direction()))
    handler: StreamHandler | None = None
    midstream: bool = False  # no SYN seen: the capture started after the handshake
    closed: str = ""  # "", "fin", "rst", "end of capture", "idle"
    decoded: bool = False  # a decoder handled it (its handler is dropped once closed)
    rst: bool = False
    repeats: int = 0  # packets that brought nothing new (repeated pure ACKs, whole retransmissions)

    @property
    def server_port(self) -> int:
        return self.server_raw[1]

    @property
    def news(self) -> int:
        """Packets that brought something new: the clock of the reordering window (so the copies
        `-i any` or a mirror port adds do not shorten it)."""
        return self.dirs[0].packets + self.dirs[1].packets - self.repeats


HandlerFactory = Callable[[Connection], "StreamHandler | None"]


class TcpReassembler:
    def __init__(self, factory: HandlerFactory, server_ports: set[int] | frozenset[int] = frozenset()):
        self.factory = factory
        self.server_ports = server_ports
        self.flows: dict[tuple, tuple[Connection, int]] = {}
        self.connections: list[Connection] = []  # every stream, in tcp.stream order
        self.segments = 0

    # -- connection table -----------------------------------------------------

    def _new_connection(self, seg: Segment, ts: float, frame: int) -> tuple[Connection, int]:
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        flags = seg.flags
        if flags & SYN:
            client_is_src = not flags & ACK
        elif seg.dport in self.server_ports and seg.sport not in self.server_ports:
            client_is_src = True
        elif seg.sport in self.server_ports and seg.dport not in self.server_ports:
            client_is_src = False
        else:
            client_is_src = seg.sport >= seg.dport  # ephemeral ports are the high ones
        client, server = (a, b) if client_is_src else (b, a)
        conn = Connection(stream=len(self.connections),
                          client=format_endpoint(*client), server=format_endpoint(*server),
                          client_raw=client, server_raw=server, first_ts=ts, first_frame=frame,
                          midstream=not flags & SYN)
        self.connections.append(conn)
        fwd = (client[0], client[1], server[0], server[1])
        rev = (server[0], server[1], client[0], client[1])
        self.flows[fwd] = (conn, 0)
        self.flows[rev] = (conn, 1)
        conn.handler = self.factory(conn)
        return conn, 0 if client_is_src else 1

    # -- per segment ----------------------------------------------------------

    def add(self, seg: Segment, ts: float, frame: int) -> None:
        self.segments += 1
        if not self.segments % SWEEP_EVERY:
            self.sweep(ts, frame)
        entry = self.flows.get((seg.src, seg.sport, seg.dst, seg.dport))
        if entry is not None and self._in_order(entry, seg, ts, frame):
            return
        if entry is None:
            conn, d = self._new_connection(seg, ts, frame)
        else:
            conn, d = entry
            if seg.flags & SYN and not seg.flags & ACK and (conn.closed or _reopened(conn.dirs[d], seg.seq)):
                # port reuse: a new stream (numbered as Wireshark numbers tcp.stream)
                self._close(conn, conn.last_ts, conn.last_frame, "port reused")
                conn, d = self._new_connection(seg, ts, frame)
        conn.last_ts = ts
        conn.last_frame = frame
        handler = conn.handler
        ds = conn.dirs[d]
        ds.packets += 1
        if handler is None or conn.closed:
            if not conn.closed and seg.flags & (FIN | RST):
                conn.closed = "rst" if seg.flags & RST else "fin"  # lets a reused port start a new stream
            return
        flags = seg.flags
        if flags & SYN:
            if ds.syn:
                conn.repeats += 1
            else:
                ds.syn = True
                ds.isn = seg.seq
                if ds.next_seq is None:  # a SYN captured after this side's first data changes nothing
                    ds.next_seq = (seg.seq + 1) & M32
            return
        payload = seg.payload
        plen = len(payload) + seg.missing
        if not plen and not flags & (FIN | RST):
            if seg.ack == ds.last_ack:
                conn.repeats += 1
            ds.last_ack = seg.ack
        if ds.next_seq is None:
            ds.next_seq = seg.seq  # first sight of this direction mid-stream
            if not conn.dirs[1 - d].syn:
                conn.midstream = True
        # a peer acknowledging beyond what we have proves those bytes were sent; they are lost to
        # the capture unless they still turn up shortly (an ACK can be captured before its data)
        # how far into the peer's stream this segment's ACK reaches past what arrived (0: not past):
        # it was sent after those missing bytes
        answered_to = 0
        other = conn.dirs[1 - d]
        if flags & ACK:
            if other.next_seq is not None and not other.fin:
                ahead = _signed32(seg.ack - other.next_seq)
                if 0 < ahead < ACK_JUMP_LIMIT:
                    answered_to = other.offset + ahead
                    _proven_sent(other, answered_to, conn.news)
        if not plen and not flags & RST and ds.next_seq is not None and not ds.fin:
            # a bare ACK (or FIN) numbered past what arrived of its own side proves those bytes were sent
            ahead = _signed32(seg.seq - ds.next_seq)
            if 0 < ahead < ACK_JUMP_LIMIT:
                _proven_sent(ds, ds.offset + ahead, conn.news)
        if other.acked_to is not None:
            if plen and answered_to:
                # data that answers the hole must reach the decoder after it: settle now, but only
                # what this answer acknowledges (a later ACK may also count a FIN)
                self._settle_acked(conn, 1 - d, other, ts, frame, final=True, upto=answered_to)
            else:
                self._settle_acked(conn, 1 - d, other, ts, frame)
        if ds.acked_to is not None and not plen:
            self._settle_acked(conn, d, ds, ts, frame)  # (data of this side may fill it: settled below)
        if plen and not self._place(conn, d, ds, seg, payload, plen, ts, frame):
            return  # a repeat of data already waiting
        if plen and ds.acked_to is not None:
            self._settle_acked(conn, d, ds, ts, frame)
        if flags & FIN and not ds.fin and ds.fin_at is None:
            end_diff = _signed32(seg.seq + plen - ds.next_seq)
            if 0 < end_diff < ACK_JUMP_LIMIT:
                # a FIN proves every byte before it was sent: the hole is settled like an
                # acknowledged one (late data may still fill it), and the FIN applies after it
                ds.fin_at = ds.offset + end_diff
                _proven_sent(ds, ds.fin_at, conn.news)
            elif end_diff <= 0:
                ds.fin_at = ds.offset
        if ds.fin_at is not None and ds.offset >= ds.fin_at:
            self._apply_fin(conn, d, ds, ts, frame)
        if flags & RST:
            conn.rst = True
            self._close(conn, ts, frame, "rst")

    def _in_order(self, entry, seg: Segment, ts: float, frame: int) -> bool:
        # the fast path: the next in-order data segment of a decoded connection, nothing waiting,
        # no flag but ACK/PSH (the bulk of an image upload)
        if not seg.flags & 0x07 and not seg.missing:
            conn, d = entry
            handler = conn.handler
            ds = conn.dirs[d]
            payload = seg.payload
            n = len(payload)
            if (handler is not None and seg.seq == ds.next_seq and not ds.pending
                    and not conn.closed and not conn.dirs[1 - d].pending
                    and conn.dirs[1 - d].acked_to is None and ds.acked_to is None):
                other_next = conn.dirs[1 - d].next_seq
                if not n:
                    # a pure ACK that acknowledges nothing we have not seen
                    ahead = (seg.ack - other_next) & M32 if other_next is not None else None
                    if ahead is not None and (ahead == 0 or ahead >= ACK_JUMP_LIMIT):
                        conn.last_ts = ts
                        conn.last_frame = frame
                        ds.packets += 1
                        return True
                elif other_next is None or seg.ack == other_next or not seg.flags & ACK:
                    conn.last_ts = ts
                    conn.last_frame = frame
                    ds.packets += 1
                    ds.delivered += n
                    ds.offset += n
                    ds.next_seq = (ds.next_seq + n) & M32
                    handler.data(d, payload, ts, frame)
                    return True
        return False

    def _place(self, conn: Connection, d: int, ds: Direction, seg: Segment, payload, plen: int, ts: float,
               frame: int) -> bool:
        """Data of a segment: delivered in order, its retransmitted start cut, or held until the hole
        before it fills. False for a repeat of data already held (nothing more to do with the segment)."""
        diff = _signed32(seg.seq - ds.next_seq)
        if diff == 0:
            self._deliver(conn, d, ds, payload, seg.missing, ts, frame)
            if ds.pending:
                self._drain(conn, d, ds)
        elif diff < 0:
            if diff + plen <= 0:
                ds.retransmitted += plen
                conn.repeats += 1
            else:
                cut = -diff
                ds.retransmitted += cut
                if cut < len(payload):
                    self._deliver(conn, d, ds, payload[cut:], seg.missing, ts, frame)
                else:
                    self._deliver(conn, d, ds, payload[:0], plen - cut, ts, frame)
                if ds.pending:
                    self._drain(conn, d, ds)
        else:
            key = ds.offset + diff
            old = ds.pending.get(key)
            if old is not None:
                if bytes(payload[:len(old[0])]) != old[0][:len(payload)]:
                    ds.conflicting_overlaps += 1
                if len(old[0]) + old[1] >= plen:
                    conn.repeats += 1
                    return False
                ds.pending_bytes -= len(old[0])
            ds.pending[key] = (bytes(payload), seg.missing, ts, frame)
            ds.pending_bytes += len(payload)
            if ds.pending_bytes > PENDING_LIMIT:
                self._force_gap(conn, d, ds, ts, frame, None)
        return True

    def _deliver(self, conn: Connection, d: int, ds: Direction, payload: memoryview,
                 missing: int, ts: float, frame: int) -> None:
        n = len(payload)
        if n:
            ds.delivered += n
            ds.offset += n
            conn.handler.data(d, payload, ts, frame)
        if missing:
            ds.gap_bytes += missing
            ds.offset += missing
            conn.handler.gap(d, missing, ts, frame)
        ds.next_seq = (ds.next_seq + n + missing) & M32

    def _drain(self, conn: Connection, d: int, ds: Direction) -> None:
        pending = ds.pending
        while pending:
            key = min(pending)
            if key > ds.offset:
                return
            data, missing, ts, frame = pending.pop(key)
            ds.pending_bytes -= len(data)
            cut = ds.offset - key
            total = len(data) + missing
            if cut >= total:
                ds.retransmitted += total
                continue
            ds.retransmitted += cut
            mv = memoryview(data)
            if cut <= len(data):
                self._deliver(conn, d, ds, mv[cut:], missing, ts, frame)
            else:
                self._deliver(conn, d, ds, mv[:0], total - cut, ts, frame)

    def _apply_fin(self, conn: Connection, d: int, ds: Direction, ts: float, frame: int) -> None:
        ds.fin = True
        ds.fin_at = None
        ds.next_seq = (ds.next_seq + 1) & M32
        if ds.acked_to is not None and ds.acked_to <= ds.offset + 1:
            ds.acked_to = None  # the peer acknowledged this FIN before it was captured
        if conn.dirs[1 - d].fin or conn.dirs[1 - d].next_seq is None:
            self._close(conn, ts, frame, "fin")

    def _settle_acked(self, conn: Connection, d: int, ds: Direction, ts: float, frame: int,
                      final: bool = False, upto: int | None = None) -> None:
        """Acknowledged but missing bytes become a gap once REORDER_PACKETS more packets of the
        connection went by without them (or at its end)."""
        if ds.fin_at is not None:
            ds.acked_to = min(ds.acked_to, ds.fin_at)  # an ACK of the FIN counts its sequence number too
        if ds.acked_to <= ds.offset:
            ds.acked_to = None
            if ds.fin_at is not None and ds.offset >= ds.fin_at and not conn.closed:
                self._apply_fin(conn, d, ds, ts, frame)
            return
        if ds.fin_at is None and ds.acked_to == ds.offset + 1 and not ds.pending:
            return  # one acknowledged unit and nothing after it: the FIN, not yet captured
        if not final and conn.news - ds.acked_mark < REORDER_PACKETS:
            return
        target = ds.acked_to if upto is None else min(ds.acked_to, upto)
        while target > ds.offset:
            before = ds.offset
            self._force_gap(conn, d, ds, ts, frame, target - ds.offset)
            if ds.offset == before:
                break
        if ds.acked_to <= ds.offset or upto is None:
            ds.acked_to = None
        else:  # the rest (beyond the answer's ACK) gets its own reordering window
            ds.acked_mark = conn.news
        if ds.fin_at is not None and ds.offset >= ds.fin_at and not conn.closed:
            self._apply_fin(conn, d, ds, ts, frame)

    def _force_gap(self, conn: Connection, d: int, ds: Direction, ts: float, frame: int,
                   acked: int | None) -> None:
        """Declare the hole before the earliest pending segment (or up to `acked`) lost."""
        if ds.pending:
            nxt = min(ds.pending)
            hole = nxt - ds.offset
            if acked is not None:
                hole = min(hole, acked)
        else:
            hole = acked or 0
        if hole <= 0:
            return
        ds.gap_bytes += hole
        ds.offset += hole
        ds.next_seq = (ds.next_seq + hole) & M32
        conn.handler.gap(d, hole, ts, frame)
        self._drain(conn, d, ds)

    def _close(self, conn: Connection, ts: float, frame: int, reason: str) -> None:
        if conn.closed:
            return
        conn.closed = reason  # first: flushing below must not close it again
        for d, ds in enumerate(conn.dirs):
            while ds.pending:
                self._force_gap(conn, d, ds, ts, frame, None)
            if ds.acked_to is not None:
                self._settle_acked(conn, d, ds, ts, frame, final=True)
        if conn.handler is not None:
            conn.handler.close(ts, frame, reason)
            conn.handler = None  # the decoder's work is done: let it go
            conn.decoded = True

    def sweep(self, ts: float, frame: int) -> None:
        """Memory bound: holes that stayed open too long become gaps, freeing what waited behind them."""
        for conn in self.connections:
            if conn.closed or conn.handler is None or ts - conn.last_ts < IDLE_SECONDS:
                continue
            for d, ds in enumerate(conn.dirs):
                while ds.pending:
                    self._force_gap(conn, d, ds, conn.last_ts, conn.last_frame, None)
                if ds.acked_to is not None:
                    self._settle_acked(conn, d, ds, conn.last_ts, conn.last_frame, final=True)

    def finish(self, ts: float, frame: int) -> None:
        """End of capture: flush every open connection."""
        for conn in self.connections:
            if not conn.closed and conn.handler is not None:
                self._close(conn, conn.last_ts, conn.last_frame, "end of capture")
