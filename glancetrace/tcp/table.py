"""Every connection of a capture in tcp.stream order, the closed ones packed into one bytes record each.

A flood of short connections (issue 16.6: 200,000 one-byte connections, no call, no statement) kept
~2.5 KiB per connection for the whole pass as objects: the Connection, its endpoint tuples, direction
summaries, two 4-tuple keys in the flow table and the observer's tally.  A closed connection needs
only its counts, and its endpoints to give later packets its stream number: packed, that is one
record of ~110 bytes (~160 with both directions seen) and one key of packed endpoints → record in
`ClosedFlows`, ~270 bytes in all.  Reading a packed connection makes a Connection again (a copy:
changing it changes nothing in the table).
"""

from __future__ import annotations

import struct
from typing import Iterable, Iterator

from .connection import _UNSEEN, Connection, Direction, DirectionSummary

CLOSED = ("", "fin", "rst", "end of capture", "port reused", "idle")  # Connection.closed, by code
# stream, first_ts, first_frame, last_ts, last_frame, repeats, flags (midstream, rst, decoded), closed code,
# directions seen (bit per direction), address length, client port, server port; then the two addresses
_HEAD = struct.Struct("<IdQdQQBBBBHH")
_LAST = struct.Struct("<dQ")  # last_ts, last_frame: contiguous in _HEAD, rewritten when a late packet shows
_LAST_AT, _CLOSED_AT, _ADDR_LEN_AT = 20, 45, 47  # offsets in _HEAD
# per direction seen: next_seq (-1: none), offset, delivered, gap_bytes, retransmitted, conflicting
# overlaps, isn (-1: none), flags (syn, fin)
_DIR = struct.Struct("<qQQQQIqB")
_PORTS = struct.Struct("!HH")


def flow_key(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """One direction's endpoints, packed: the key of a closed connection (client → server)."""
    return src + dst + _PORTS.pack(sport, dport)


def _summary(ds: Direction | DirectionSummary) -> DirectionSummary:
    return ds if isinstance(ds, DirectionSummary) else DirectionSummary.of(ds)


def pack(conn: Connection) -> bytes:
    """A closed connection's record."""
    (cip, cport), (sip, sport) = conn.client_raw, conn.server_raw
    dirs = [_summary(ds) for ds in conn.dirs]
    seen = [ds for ds in dirs if ds is not _UNSEEN]
    flags = conn.midstream | conn.rst << 1 | conn.decoded << 2
    head = _HEAD.pack(conn.stream, conn.first_ts, conn.first_frame, conn.last_ts, conn.last_frame, conn.repeats,
                      flags, CLOSED.index(conn.closed), (dirs[0] is not _UNSEEN) | (dirs[1] is not _UNSEEN) << 1,
                      len(cip), cport, sport)
    return b"".join([head, cip, sip] + [
        _DIR.pack(-1 if ds.next_seq is None else ds.next_seq, ds.offset, ds.delivered, ds.gap_bytes, ds.retransmitted,
                  ds.conflicting_overlaps, -1 if ds.isn is None else ds.isn, ds.syn | ds.fin << 1) for ds in seen])


def unpack(rec: bytes) -> Connection:
    (stream, first_ts, first_frame, last_ts, last_frame, repeats, flags, closed, seen, n, cport,
     sport) = _HEAD.unpack_from(rec)
    at = _HEAD.size + 2 * n
    dirs = []
    for d in (0, 1):
        if not seen >> d & 1:
            dirs.append(_UNSEEN)
            continue
        nxt, offset, delivered, gaps, retransmitted, overlaps, isn, bits = _DIR.unpack_from(rec, at)
        at += _DIR.size
        dirs.append(DirectionSummary(None if nxt < 0 else nxt, offset, delivered, gaps, retransmitted, overlaps,
                                     bool(bits & 1), None if isn < 0 else isn, bool(bits & 2)))
    return Connection(stream=stream, client_raw=(rec[_HEAD.size:_HEAD.size + n], cport),
                      server_raw=(rec[_HEAD.size + n:_HEAD.size + 2 * n], sport),
                      first_ts=first_ts, first_frame=first_frame, last_ts=last_ts, last_frame=last_frame,
                      dirs=tuple(dirs), midstream=bool(flags & 1), closed=CLOSED[closed], decoded=bool(flags & 4),
                      rst=bool(flags & 2), repeats=repeats)


def record_key(rec: bytes) -> bytes:
    """The record's flow_key (client → server)."""
    n = rec[_ADDR_LEN_AT]
    cport, sport = struct.unpack_from("<HH", rec, _ADDR_LEN_AT + 1)
    return rec[_HEAD.size:_HEAD.size + 2 * n] + _PORTS.pack(cport, sport)


def record_stream(rec: bytes) -> int:
    return int.from_bytes(rec[:4], "little")


def record_last_frame(rec: bytes) -> int:
    return _LAST.unpack_from(rec, _LAST_AT)[1]


def record_closed(rec: bytes) -> str:
    return CLOSED[rec[_CLOSED_AT]]


def with_last(rec: bytes, ts: float, frame: int) -> bytes:
    """The record of a packed connection a late packet (an ACK of its FIN, a retransmission) showed up for."""
    return rec[:_LAST_AT] + _LAST.pack(ts, frame) + rec[_LAST_AT + _LAST.size:]


def packable(conn: Connection) -> bool:
    return bool(conn.closed) and conn.handler is None and not conn.held and conn.tally is None


class ConnectionTable:
    """A sequence of Connection in tcp.stream order: open ones as objects, closed ones (once the reassembler
    packs them, or when appended closed) as records, read back as Connection copies."""

    __slots__ = ("items",)

    def __init__(self, conns: Iterable[Connection] = ()) -> None:
        self.items: list[Connection | bytes] = []
        self.extend(conns)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [x if type(x) is Connection else unpack(x) for x in self.items[i]]
        x = self.items[i]
        return x if type(x) is Connection else unpack(x)

    def __iter__(self) -> Iterator[Connection]:
        for x in self.items:
            yield x if type(x) is Connection else unpack(x)

    def __repr__(self) -> str:
        return f"ConnectionTable({len(self.items)} connections)"

    def live(self) -> Iterator[Connection]:
        """The connections kept as objects (not packed)."""
        return (x for x in self.items if type(x) is Connection)

    def append(self, conn: Connection) -> None:
        self.items.append(pack(conn) if packable(conn) else conn)

    def extend(self, conns: Iterable[Connection]) -> None:
        if isinstance(conns, ConnectionTable):
            self.items.extend(conns.items)  # (records are immutable: shared)
        else:
            for c in conns:
                self.append(c)
