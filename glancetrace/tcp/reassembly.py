"""TCP reassembly: segments in capture order → ordered byte streams per direction.

Each connection gets a handler from a factory (or None: the connection is
only counted).  Handlers receive `data(direction, bytes, ts, frame)`,
`gap(direction, nbytes, ts, frame)` and `close(ts, frame, reason)`;
direction 0 is client → server, 1 is server → client.

Sequence numbers are tracked as 64-bit offsets so streams longer than 4 GiB
and 32-bit wrap-around work.  Out-of-order segments wait in a buffer
(connection.py; bounded in memory).  Captures taken with `-i any` or on
multi-queue NICs hold packets a few positions out of order, so nothing is
declared lost at once:

- a hole becomes a reported gap when it is proven sent (the peer acknowledged
  past it, a FIN or a bare ACK is numbered past it) and its bytes did not turn
  up within the reordering window: REORDER_PACKETS packets of the connection
  and REORDER_SECONDS of capture time, both (reordering within either loses
  nothing); or when the buffer grows past its limit; or when the connection ends;
- data that answers bytes not yet seen (its ACK reaches past them: a response
  captured before its request) is held, not delivered, until they arrive or the
  window is over, so decoders see question before answer;
- a keep-alive probe (at most one byte, one below what the peer acknowledged)
  is not data, and does not anchor a stream first seen mid-connection.

Stream numbers follow Wireshark's `tcp.stream` (order of first appearance, a
new number when a closed 4-tuple is reused).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from ..capture.segment import ACK, FIN, RST, SYN, Segment
from .connection import (ACK_JUMP_LIMIT, M32, PENDING_LIMIT, Connection, Direction, HandlerFactory, SegmentObserver,
                         StreamHandler, format_endpoint, format_ip, proven_sent, reopened, restart_at, signed32,
                         unaccounted)
from .held import HeldAnswers, HeldSegment
from .table import ClosedFlows, ConnectionTable, flow_key

__all__ = ["Connection", "Direction", "HandlerFactory", "StreamHandler", "TcpReassembler",
           "format_endpoint", "format_ip"]

LIVE_LIMIT = 10_000  # decoders kept at once: beyond, the least recently active connections are released
IDLE_SECONDS = 300.0  # out-of-order bytes waiting longer than this (capture time) are given up as a gap
SWEEP_EVERY = 1 << 16  # segments between idle sweeps
RECENT_LIMIT = 1_000  # closed connections kept as objects (at least 1: the one closing now is still observed) (late packets: the ACK of a FIN, a RST after it);
# beyond, the earliest closed are packed (tcp/table.py)
REORDER_PACKETS = 128  # packets of the connection a proven-sent hole waits for its late data (a packet
# up to 64 positions late whose ACK came up to 64 early) …
REORDER_SECONDS = 0.1  # … and seconds of capture time (a gap only once both are over)


def _window_over(conn: Connection, mark: int, mark_ts: float, ts: float) -> bool:
    return conn.news - mark > REORDER_PACKETS and ts - mark_ts > REORDER_SECONDS


class TcpReassembler:
    def __init__(self, factory: HandlerFactory, server_ports: set[int] | frozenset[int] = frozenset()):
        self.factory = factory
        self.server_ports = server_ports
        self.flows: dict[tuple, tuple[Connection, int]] = {}  # (src, sport, dst, dport) → connection not packed, direction
        self.connections = ConnectionTable()  # every stream, in tcp.stream order
        self.closed_flows = ClosedFlows(self.connections)  # flow_key (client → server) → stream of a packed connection
        self._recent: deque[Connection] = deque()  # closed, not packed yet, in the order they closed
        self.open: list[Connection] = []  # those given a decoder and perhaps not closed yet, in that order
        self.segments = 0
        self.observer: SegmentObserver | None = None

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
        # (last seen now: the idle release this may start must not take it for the least active)
        conn = Connection(stream=len(self.connections), client_raw=client, server_raw=server,
                          first_ts=ts, first_frame=frame, last_ts=ts, last_frame=frame, midstream=not flags & SYN)
        self.connections.append(conn)
        fwd = (client[0], client[1], server[0], server[1])
        rev = (server[0], server[1], client[0], client[1])
        self.flows[fwd] = (conn, 0)
        self.flows[rev] = (conn, 1)
        if self.closed_flows:  # a packed predecessor on these ports (either way round) is no longer found
            self.closed_flows.pop(flow_key(*fwd))
            self.closed_flows.pop(flow_key(*rev))
        conn.handler = self.factory(conn)
        if conn.handler is not None:
            self.open.append(conn)
            if len(self.open) > LIVE_LIMIT + LIVE_LIMIT // 8:  # (pruned an eighth at a time: a flood holds
                # 11,250 decoders at most, not 20,000: a third of the peak memory with 200,000 connections)
                self._release_idle()
        return conn, 0 if client_is_src else 1

    def _release_idle(self) -> None:
        """Memory bound with many connections (a scan, a flood of one-byte connections): decoders
        beyond LIVE_LIMIT are closed ("idle"), least recently active first.  Their state is
        small counters; one that speaks again gets a new decoder, which picks up mid-stream."""
        live = list(dict.fromkeys(c for c in self.open if not c.closed and c.handler is not None))
        if len(live) > LIVE_LIMIT:
            live.sort(key=lambda c: c.last_frame)
            for conn in live[:len(live) - LIVE_LIMIT]:
                self._close(conn, conn.last_ts, conn.last_frame, "idle")
            live = sorted(live[len(live) - LIVE_LIMIT:], key=lambda c: c.stream)
        self.open = live

    def _resume(self, conn: Connection) -> None:
        """A connection released as idle speaks again: a new decoder (mid-stream), same stream."""
        conn.closed = ""
        conn.revive()
        conn.handler = self.factory(conn)
        if conn.handler is not None:
            conn.midstream = True
            self.open.append(conn)

    def _connection_of(self, entry: tuple[Connection, int] | None, seg: Segment, ts: float,
                       frame: int) -> tuple[Connection, int] | None:
        if entry is None and self.closed_flows:
            entry = self._packed(seg, ts, frame)
            if entry is None:
                return None
        if entry is None:
            return self._new_connection(seg, ts, frame)
        conn, d = entry
        if seg.flags & SYN and not seg.flags & ACK and (conn.closed or reopened(conn.dirs[d], seg.seq)):
            # port reuse: a new stream (numbered as Wireshark numbers tcp.stream)
            self._close(conn, conn.last_ts, conn.last_frame, "port reused")
            return self._new_connection(seg, ts, frame)
        return entry

    # -- packed connections (tcp/table.py) --------------------------------------

    def _closed(self, conn: Connection) -> None:
        self._recent.append(conn)
        while len(self._recent) > RECENT_LIMIT:
            self._pack(self._recent.popleft())

    def _pack(self, conn: Connection) -> None:
        """Memory bound with many connections: a connection closed RECENT_LIMIT closes ago keeps a record."""
        if not conn.closed or conn.handler is not None or self.connections.object_at(conn.stream) is not conn:
            return  # resumed since, or packed already
        if self.observer is not None:
            self.observer.released(conn)
        for key in ((*conn.client_raw, *conn.server_raw), (*conn.server_raw, *conn.client_raw)):
            if self.flows.get(key, (None,))[0] is conn:
                del self.flows[key]
        self.connections.pack_at(conn.stream)
        self.closed_flows.add(flow_key(*conn.client_raw, *conn.server_raw), conn.stream)

    def _packed(self, seg: Segment, ts: float, frame: int) -> tuple[Connection, int] | None:
        """A segment no open connection has: of a packed one?  A SYN opens a new stream on its ports, a
        connection released as idle comes back as an object, a late packet of a closed one is counted
        in its record (None: nothing more to do).  No record: a new connection."""
        d, key = 0, flow_key(seg.src, seg.sport, seg.dst, seg.dport)
        i = self.closed_flows.get(key)
        if i is None:
            d, key = 1, flow_key(seg.dst, seg.dport, seg.src, seg.sport)
            i = self.closed_flows.get(key)
        if i is None or (seg.flags & SYN and not seg.flags & ACK):
            return self._new_connection(seg, ts, frame)
        if self.connections.closed_at(i) != "idle":
            self.connections.set_last(i, ts, frame)
            return None
        self.closed_flows.pop(key)
        conn = self.connections.revive_at(i)
        self.flows[(*conn.client_raw, *conn.server_raw)] = (conn, 0)
        self.flows[(*conn.server_raw, *conn.client_raw)] = (conn, 1)
        return conn, d

    def last_seen(self, seg: Segment) -> tuple[int, int] | None:
        """(stream, last frame) of the connection this segment belongs to, open or packed, if any."""
        entry = self.flows.get((seg.src, seg.sport, seg.dst, seg.dport))
        if entry is not None:
            return entry[0].stream, entry[0].last_frame
        if not self.closed_flows:
            return None
        i = self.closed_flows.get(flow_key(seg.src, seg.sport, seg.dst, seg.dport))
        if i is None:
            i = self.closed_flows.get(flow_key(seg.dst, seg.dport, seg.src, seg.sport))
        return None if i is None else (self.connections.stream_at(i), self.connections.last_frame_at(i))

    # -- per segment ----------------------------------------------------------

    def observe(self, observer: SegmentObserver) -> None:
        """Show `observer`'s tally of each connection every segment of it, with the direction found here
        (tcp/stalls.py: no second flow lookup per segment): a segment of the fast path with what it found
        (`in_order`: its length and end), any other after the general path (`segment`); and `observer` each
        connection before its state is packed away."""
        self.observer = observer

    def add(self, seg: Segment, ts: float, frame: int) -> None:
        self.segments += 1
        if not self.segments % SWEEP_EVERY:
            self.sweep(ts, frame)
        entry = self.flows.get((seg.src, seg.sport, seg.dst, seg.dport))
        if entry is not None and not (seg.flags & 0x07 or seg.missing):
            # The fast path, inline (a call per segment less): the next in-order data segment of a decoded
            # connection, nothing waiting, no flag but ACK/PSH (the bulk of an image upload), or a pure ACK
            # that acknowledges nothing unseen.
            conn, d = entry
            handler = conn.handler
            ds = conn.dirs[d]
            other = conn.dirs[1 - d]
            if not (handler is None or seg.seq != ds.next_seq or ds.pending or other.pending or conn.closed
                    or conn.held or other.acked_to is not None or ds.acked_to is not None):
                payload = seg.payload
                n = len(payload)
                other_next = other.next_seq
                if (other_next is None or seg.ack == other_next or not seg.flags & ACK) if n else (
                        other_next is not None and not 0 < (seg.ack - other_next) & M32 < ACK_JUMP_LIMIT):
                    conn.last_ts = ts
                    conn.last_frame = frame
                    ds.packets += 1
                    end = ds.next_seq
                    if n:
                        ds.delivered += n
                        ds.offset += n
                        end = ds.next_seq = (end + n) & M32
                        handler.data(d, payload, ts, frame)
                    tally = conn.tally
                    if tally is not None:
                        tally.in_order(d, seg, n, end, ts, frame)
                    elif self.observer is not None:
                        conn.tally = self.observer.tally(conn)
                        conn.tally.segment(d, seg, ts, frame)
                    return
        entry = self._general(entry, seg, ts, frame)
        if entry is None:
            return
        if self.observer is not None:
            conn = entry[0]
            tally = conn.tally
            if tally is None:
                tally = conn.tally = self.observer.tally(conn)
            tally.segment(entry[1], seg, ts, frame)

    def _general(self, entry: tuple[Connection, int] | None, seg: Segment, ts: float,
                 frame: int) -> tuple[Connection, int] | None:
        """Every segment the fast path does not take; returns its connection and direction (None: a late
        packet of a packed connection)."""
        entry = self._connection_of(entry, seg, ts, frame)
        if entry is None:
            return None
        conn, d = entry
        conn.last_ts = ts
        conn.last_frame = frame
        if conn.closed == "idle":
            self._resume(conn)
        if conn.closed:
            return entry  # (its directions are summaries now)
        conn.dirs[d].packets += 1
        if conn.handler is None:
            if not conn.closed and seg.flags & (FIN | RST):
                conn.closed = "rst" if seg.flags & RST else "fin"  # lets a reused port start a new stream
                self._closed(conn)
            return entry
        if conn.held:
            self._place_unseen(conn, d, seg)
            self._release_held(conn, ts)  # those whose wait is over first: they were captured earlier
        self._segment(conn, d, seg, ts, frame)
        if conn.held:
            self._release_held(conn, ts)
        return entry

    def _segment(self, conn: Connection, d: int, seg: Segment, ts: float, frame: int,
                 forced: bool = False, released: HeldSegment | None = None) -> None:
        """The general path for one segment; `released`: a held answer let go (the first held of
        its side), `forced` when its wait is over."""
        flags = seg.flags
        ds, other = conn.dirs[d], conn.dirs[1 - d]
        if flags & SYN:
            self._syn(conn, ds, seg)
            return
        plen = len(seg.payload) + seg.missing
        if not plen and not flags & (FIN | RST):
            if seg.ack == ds.last_ack:
                conn.repeats += 1
            ds.last_ack = seg.ack
        if flags & ACK and other.next_seq is None:
            other.peer_ack = seg.ack
        if plen and not forced and released is None and self._behind_held(conn, d, seg):
            self._hold(conn, d, seg, ts, frame, 0)  # behind this side's held data, in stream order
            return
        if (plen and not forced and released is None and flags & ACK and other.next_seq is None
                and other.isn is None):
            # the peer not seen yet: this may answer what it will send (a response captured
            # before the connection's first packets); `_place_unseen` tells once it shows, and
            # releases it when it answers nothing after the peer's start
            self._hold(conn, d, seg, ts, frame, None)
            return
        if ds.next_seq is None and not self._anchor(conn, d, ds, seg, plen):
            return
        answered_to = self._proofs(conn, ds, other, seg, plen, ts)
        if other.acked_to is not None:
            if plen and answered_to:
                if not forced:
                    self._hold(conn, d, seg, ts, frame, answered_to, released)
                    return
                # the answer reaches the decoder after what it answers: settle that much now
                # (a later ACK may also count a FIN)
                self._settle_acked(conn, 1 - d, other, ts, frame, final=True, upto=answered_to)
            else:
                self._settle_acked(conn, 1 - d, other, ts, frame)
        if ds.acked_to is not None and not plen:
            self._settle_acked(conn, d, ds, ts, frame)  # (data of this side may fill it: settled below)
        if plen:
            self._place(conn, d, ds, seg, plen, ts, frame)
            if ds.acked_to is not None:
                self._settle_acked(conn, d, ds, ts, frame)
        if flags & FIN:
            self._fin_seen(conn, ds, seg, plen, ts)
        if ds.fin_at is not None and ds.offset >= ds.fin_at:
            self._apply_fin(conn, d, ds, ts, frame)
        if flags & RST:
            conn.rst = True
            self._close(conn, ts, frame, "rst")

    def _syn(self, conn: Connection, ds: Direction, seg: Segment) -> None:
        if ds.syn:
            conn.repeats += 1
            return
        ds.syn = True
        ds.isn = seg.seq
        if ds.next_seq is None or unaccounted(ds):  # a SYN captured after this side's first data changes nothing
            restart_at(ds, (seg.seq + 1) & M32)

    def _anchor(self, conn: Connection, d: int, ds: Direction, seg: Segment, plen: int) -> bool:
        """First sight of this direction mid-stream: where its stream starts.  False for a
        keep-alive probe, which is no anchor: one byte (or none) one below what the peer already
        acknowledged, or a lone byte before the peer was seen (no protocol here begins a message
        with one byte, so nothing decodable is lost)."""
        if not plen and self._held_in(conn, d):
            return False  # a bare ACK after held data of its side must not anchor the stream past it
        if plen <= 1 and not seg.flags & (FIN | RST):
            probe_seq = None if ds.peer_ack is None else (ds.peer_ack - 1) & M32
            if seg.seq == probe_seq or (plen == 1 and ds.peer_ack is None):
                conn.repeats += 1
                return False
        ds.next_seq = seg.seq
        if not conn.dirs[1 - d].syn:
            conn.midstream = True
        return True

    def _proofs(self, conn: Connection, ds: Direction, other: Direction, seg: Segment, plen: int,
                ts: float) -> int:
        """Bytes this segment proves were sent but did not arrive.  Returns how far into the peer's
        stream its ACK reaches past what arrived (0: not past): it was sent after those bytes."""
        answered_to = 0
        if seg.flags & ACK and other.next_seq is not None and not other.fin:
            ahead = signed32(seg.ack - other.next_seq)
            if 0 < ahead < ACK_JUMP_LIMIT:
                answered_to = other.offset + ahead
                proven_sent(other, answered_to, conn.news, ts)
        if not plen and not seg.flags & RST and not ds.fin:
            # a bare ACK (or FIN) numbered past what arrived of its own side proves those bytes were sent
            ahead = signed32(seg.seq - ds.next_seq)
            if 0 < ahead < ACK_JUMP_LIMIT:
                proven_sent(ds, ds.offset + ahead, conn.news, ts)
        return answered_to

    def _place(self, conn: Connection, d: int, ds: Direction, seg: Segment, plen: int, ts: float,
               frame: int) -> None:
        """Deliver the segment's data (the new part of it), or keep it until the hole before it fills."""
        payload = seg.payload
        diff = signed32(seg.seq - ds.next_seq)
        if diff < 0 and unaccounted(ds):
            restart_at(ds, seg.seq)  # anchored by a bare ACK that was captured before this earlier data
            diff = 0
        if diff > 0:
            if not ds.wait(ds.offset + diff, payload, seg.missing, ts, frame):
                conn.repeats += 1
            elif ds.pending_bytes > PENDING_LIMIT:
                self._force_gap(conn, d, ds, ts, frame, None)
            return
        if diff + plen <= 0:
            ds.retransmitted += plen
            conn.repeats += 1
            return
        cut = -diff
        ds.retransmitted += cut
        if cut <= len(payload):
            self._deliver(conn, d, ds, payload[cut:], seg.missing, ts, frame)
        else:
            self._deliver(conn, d, ds, payload[:0], plen - cut, ts, frame)
        if ds.pending:
            self._drain(conn, d, ds)

    def _fin_seen(self, conn: Connection, ds: Direction, seg: Segment, plen: int, ts: float) -> None:
        if ds.fin or ds.fin_at is not None:
            return
        end_diff = signed32(seg.seq + plen - ds.next_seq)
        if 0 < end_diff < ACK_JUMP_LIMIT:
            # a FIN proves every byte before it was sent: the hole is settled like an
            # acknowledged one (late data may still fill it), and the FIN applies after it
            ds.fin_at = ds.offset + end_diff
            proven_sent(ds, ds.fin_at, conn.news, ts)
        elif end_diff <= 0:
            ds.fin_at = ds.offset

    # -- answers captured before their question -----------------------------

    def _hold(self, conn: Connection, d: int, seg: Segment, ts: float, frame: int, need: int | None,
              released: HeldSegment | None = None) -> None:
        """Keep data that answers bytes not yet seen (up to offset `need` of the other direction;
        None: that direction was not seen yet).  A `released` one goes back to its place."""
        if released is not None:
            conn.held.put_back(d, released, need)
            return
        if conn.held is None:
            conn.held = HeldAnswers()
        copy = replace(seg, payload=memoryview(bytes(seg.payload)))  # the reader's buffer moves on
        conn.held.add(d, copy, ts, frame, need, conn.news)

    def _release_held(self, conn: Connection, ts: float, force: bool = False) -> None:
        """Process held answers, in capture order, once what they answer arrived or their wait is
        over (the missing bytes then become a gap, settled before the answer)."""
        held = conn.held

        def due(entry: HeldSegment) -> bool:
            return force or held.bytes > PENDING_LIMIT or _window_over(conn, entry.mark, entry.ts, ts)

        def ready(d: int, entry: HeldSegment) -> bool:
            return due(entry) or (entry.need is not None and conn.dirs[1 - d].offset >= entry.need)

        while conn.held is held:
            overdue = held.bytes > PENDING_LIMIT  # (taking the entry lowers it)
            taken = held.take(ready)
            if taken is None:
                if not held:
                    conn.held = None
                return
            d, entry = taken
            forced = overdue or force or _window_over(conn, entry.mark, entry.ts, ts)
            self._segment(conn, d, entry.seg, entry.ts, entry.frame, forced=forced, released=entry)

    def _place_unseen(self, conn: Connection, d: int, seg: Segment) -> None:
        """The first segment of a direction that held answers wait for: where its stream starts
        tells what they answer.  An answer to nothing after that start (the capture began
        mid-connection) goes first, before this segment."""
        other = conn.dirs[d]
        if other.next_seq is not None or other.isn is not None:
            return
        start = (seg.seq + 1) & M32 if seg.flags & SYN else seg.seq
        for entry in conn.held.unanswered(1 - d):
            ahead = signed32(entry.seg.ack - start)
            entry.need = ahead if 0 < ahead < ACK_JUMP_LIMIT else 0

    def _held_in(self, conn: Connection, d: int) -> bool:
        return conn.held is not None and conn.held.holds(d)

    def _behind_held(self, conn: Connection, d: int, seg: Segment) -> bool:
        """Data of a side whose first held segment comes before it in the stream waits behind it.
        Data before it goes on: it may be what the peer's held answers wait for, which that held
        segment waits for in turn (a swap of two records would otherwise wait out the window)."""
        return conn.held is not None and conn.held.holds(d) and not conn.held.before_first(d, seg.seq)

    # -- delivery, gaps, end ---------------------------------------------------

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
        """Deliver the waiting segments the stream has reached."""
        while ds.heap and ds.heap[0] <= ds.offset:
            key, (data, missing, ts, frame) = ds.pop_waiting()
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
        """Proven-sent but missing bytes become a gap once the reordering window is over without
        them (or at once when `final`: the connection ends, or an answer needs them settled)."""
        if ds.fin_at is not None:
            ds.acked_to = min(ds.acked_to, ds.fin_at)  # an ACK of the FIN counts its sequence number too
        if ds.acked_to <= ds.offset:
            ds.acked_to = None
            if ds.fin_at is not None and ds.offset >= ds.fin_at and not conn.closed:
                self._apply_fin(conn, d, ds, ts, frame)
            return
        if ds.fin_at is None and ds.acked_to == ds.offset + 1 and not ds.pending:
            return  # one acknowledged unit and nothing after it: the FIN, not yet captured
        if not final and (not _window_over(conn, ds.acked_mark, ds.acked_ts, ts) or self._held_in(conn, d)):
            return  # (held data of this side is released, filling the hole, before its wait ends)
        target = ds.acked_to if upto is None else min(ds.acked_to, upto)
        while target > ds.offset:
            before = ds.offset
            self._force_gap(conn, d, ds, ts, frame, target - ds.offset)
            if ds.offset == before:
                break
        if ds.acked_to <= ds.offset or upto is None:
            ds.acked_to = None
        else:  # the rest (beyond the answer's ACK) gets its own reordering window
            ds.acked_mark, ds.acked_ts = conn.news, ts
        if ds.fin_at is not None and ds.offset >= ds.fin_at and not conn.closed:
            self._apply_fin(conn, d, ds, ts, frame)

    def _force_gap(self, conn: Connection, d: int, ds: Direction, ts: float, frame: int,
                   acked: int | None) -> None:
        """Declare the hole before the earliest waiting segment (or up to `acked`) lost."""
        nxt = ds.first_waiting()
        if nxt is not None:
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

    def _flush(self, conn: Connection, ts: float, frame: int) -> None:
        """Whatever waits is settled now: held answers, holes before waiting data, proven-sent bytes."""
        if conn.held:
            self._release_held(conn, ts, force=True)
        for d, ds in enumerate(conn.dirs):
            while ds.pending:
                self._force_gap(conn, d, ds, ts, frame, None)
            if ds.acked_to is not None:
                self._settle_acked(conn, d, ds, ts, frame, final=True)

    def _close(self, conn: Connection, ts: float, frame: int, reason: str) -> None:
        if conn.closed:
            return
        conn.closed = reason  # first: flushing below must not close it again
        self._flush(conn, ts, frame)
        if conn.handler is not None:
            conn.handler.close(ts, frame, reason)
            conn.handler = None  # the decoder's work is done: let it go
            conn.decoded = True
        conn.summarise()
        if reason == "idle":
            self._pack(conn)  # (no late packets to wait for: if it speaks again, it comes back from its record)
        else:
            self._closed(conn)

    def sweep(self, ts: float, frame: int) -> None:
        """Memory bound: holes that stayed open too long become gaps, freeing what waited behind them."""
        for conn in self.open:
            if conn.closed or conn.handler is None or ts - conn.last_ts < IDLE_SECONDS:
                continue
            self._flush(conn, conn.last_ts, conn.last_frame)

    def finish(self, ts: float, frame: int) -> None:
        """End of capture: flush every open connection."""
        for conn in self.open:
            if not conn.closed and conn.handler is not None:
                self._close(conn, conn.last_ts, conn.last_frame, "end of capture")
        self.open = []
