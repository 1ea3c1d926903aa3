"""Every connection of a capture in tcp.stream order, the closed ones packed into one arena of records.

A flood of short connections (issue 16.6: 200,000 one-byte connections, no call, no statement) kept
~2.5 KiB per connection for the whole pass as objects: the Connection, its endpoint tuples, direction
summaries, two 4-tuple keys in the flow table and the observer's tally.  A closed connection needs
only its counts, and its endpoints to give later packets its stream number.  Packed, it is one record
(~70 bytes for a connection of one direction seen, ~100 with both; 32-bit fields when its numbers fit,
64-bit ones otherwise) appended to one bytearray, found by its offset in an array; `ClosedFlows` finds
it by its endpoints through an open-addressing array of table positions (the endpoints are read from
the record itself).  No Python object per packed connection: memory grows by the record and ~20 bytes
of arrays.  Reading a packed connection makes a Connection again (a copy: changing it changes nothing
in the table).
"""

from __future__ import annotations

import struct
from array import array
from typing import Iterable, Iterator

from .connection import _UNSEEN, Connection, Direction, DirectionSummary

CLOSED = ("", "fin", "rst", "end of capture", "port reused", "idle")  # Connection.closed, by code
# flags: midstream, rst, decoded, direction 0 seen, direction 1 seen, IPv6, wide (64-bit fields)
_MID, _RST, _DEC, _SEEN0, _SEEN1, _V6, _WIDE, _SILENT = 1, 2, 4, 8, 16, 32, 64, 128
# flags, closed code, client port, server port, stream, first_ts, last_ts, first_frame, last_frame, repeats;
# then the two addresses, then per direction seen its block, then silent_at when set
_HEAD = (struct.Struct("<BBHHIddIII"), struct.Struct("<BBHHIddQQQ"))  # narrow, wide
# bits (next_seq known, isn known, syn, fin), next_seq, isn, offset, delivered, gap_bytes, retransmitted,
# conflicting overlaps
_DIR = (struct.Struct("<BIIIIIII"), struct.Struct("<BIIQQQQQ"))
_HAS_NEXT, _HAS_ISN, _SYN, _FIN = 1, 2, 4, 8
_PORTS = struct.Struct("!HH")
_TIME = struct.Struct("<d")
_KEY_PORTS = struct.Struct("<HH")  # (in the record, after flags and closed code)
_NARROW = 1 << 32
LIVE = (1 << 64) - 1  # offset of a connection kept as an object


def flow_key(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """One direction's endpoints, packed: the key of a closed connection (client → server)."""
    return src + dst + _PORTS.pack(sport, dport)


def _summary(ds: Direction | DirectionSummary) -> DirectionSummary:
    return ds if isinstance(ds, DirectionSummary) else DirectionSummary.of(ds)


def _dir_fields(ds: DirectionSummary) -> tuple:
    bits = (ds.next_seq is not None) | (ds.isn is not None) << 1 | ds.syn << 2 | ds.fin << 3
    return (bits, ds.next_seq or 0, ds.isn or 0, ds.offset, ds.delivered, ds.gap_bytes, ds.retransmitted,
            ds.conflicting_overlaps)


def pack(conn: Connection) -> bytes:
    """A closed connection's record."""
    (cip, cport), (sip, sport) = conn.client_raw, conn.server_raw
    dirs = [_summary(ds) for ds in conn.dirs]
    blocks = [_dir_fields(ds) for ds in dirs if ds is not _UNSEEN]
    wide = not (conn.first_frame < _NARROW and conn.last_frame < _NARROW and conn.repeats < _NARROW
                and all(x < _NARROW for b in blocks for x in b[3:]))
    flags = (conn.midstream * _MID | conn.rst * _RST | conn.decoded * _DEC | (dirs[0] is not _UNSEEN) * _SEEN0
             | (dirs[1] is not _UNSEEN) * _SEEN1 | (len(cip) == 16) * _V6 | wide * _WIDE
             | (conn.silent_at is not None) * _SILENT)
    head = _HEAD[wide].pack(flags, CLOSED.index(conn.closed), cport, sport, conn.stream, conn.first_ts,
                            conn.last_ts, conn.first_frame, conn.last_frame, conn.repeats)
    tail = [] if conn.silent_at is None else [_TIME.pack(conn.silent_at)]
    return b"".join([head, cip, sip] + [_DIR[wide].pack(*b) for b in blocks] + tail)


def record_size(buf, at: int = 0) -> int:
    flags = buf[at]
    wide = bool(flags & _WIDE)
    seen = bool(flags & _SEEN0) + bool(flags & _SEEN1)
    return _HEAD[wide].size + (32 if flags & _V6 else 8) + seen * _DIR[wide].size + (8 if flags & _SILENT else 0)


def unpack(buf, at: int = 0) -> Connection:
    """The connection of the record at offset `at` of `buf`."""
    flags = buf[at]
    wide = bool(flags & _WIDE)
    head, block = _HEAD[wide], _DIR[wide]
    (_, closed, cport, sport, stream, first_ts, last_ts, first_frame, last_frame,
     repeats) = head.unpack_from(buf, at)
    n = 16 if flags & _V6 else 4
    a = at + head.size
    at = a + 2 * n
    dirs = []
    for seen in (flags & _SEEN0, flags & _SEEN1):
        if not seen:
            dirs.append(_UNSEEN)
            continue
        bits, nxt, isn, offset, delivered, gaps, retransmitted, overlaps = block.unpack_from(buf, at)
        at += block.size
        dirs.append(DirectionSummary(nxt if bits & _HAS_NEXT else None, offset, delivered, gaps, retransmitted,
                                     overlaps, bool(bits & _SYN), isn if bits & _HAS_ISN else None,
                                     bool(bits & _FIN)))
    silent_at = _TIME.unpack_from(buf, at)[0] if flags & _SILENT else None
    return Connection(stream=stream, client_raw=(bytes(buf[a:a + n]), cport),
                      server_raw=(bytes(buf[a + n:a + 2 * n]), sport),
                      first_ts=first_ts, first_frame=first_frame, last_ts=last_ts, last_frame=last_frame,
                      dirs=tuple(dirs), midstream=bool(flags & _MID), closed=CLOSED[closed],
                      decoded=bool(flags & _DEC), rst=bool(flags & _RST), repeats=repeats, silent_at=silent_at)


def packable(conn: Connection) -> bool:
    return bool(conn.closed) and conn.handler is None and not conn.held and conn.tally is None


class ConnectionTable:
    """A sequence of Connection in tcp.stream order: open ones as objects, closed ones (once the reassembler
    packs them, or when appended closed) as records in one arena, read back as Connection copies."""

    __slots__ = ("_at", "_arena", "_live")

    def __init__(self, conns: Iterable[Connection] = ()) -> None:
        self._at = array("Q")  # per position: the offset of its record in the arena, or LIVE
        self._arena = bytearray()
        self._live: dict[int, Connection] = {}  # position → connection kept as an object
        self.extend(conns)

    def __len__(self) -> int:
        return len(self._at)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._get(k) for k in range(*i.indices(len(self._at)))]
        if i < 0:
            i += len(self._at)
        return self._get(i)

    def _get(self, i: int) -> Connection:
        at = self._at[i]
        return self._live[i] if at == LIVE else unpack(self._arena, at)

    def __iter__(self) -> Iterator[Connection]:
        live, arena = self._live, self._arena
        for i, at in enumerate(self._at):
            yield live[i] if at == LIVE else unpack(arena, at)

    def __repr__(self) -> str:
        return f"ConnectionTable({len(self._at)} connections, {len(self._live)} as objects)"

    def live(self) -> Iterator[Connection]:
        """The connections kept as objects (not packed), in table order."""
        return (self._live[i] for i in sorted(self._live))

    def object_at(self, i: int) -> Connection | None:
        """The connection at position `i` if it is kept as an object."""
        return self._live.get(i)

    def packed(self) -> int:
        return len(self._at) - len(self._live)

    def append(self, conn: Connection) -> None:
        if packable(conn):
            self._at.append(len(self._arena))
            self._arena += pack(conn)
        else:
            self._live[len(self._at)] = conn
            self._at.append(LIVE)

    def extend(self, conns: Iterable[Connection]) -> None:
        if isinstance(conns, ConnectionTable):
            base, shift = len(self._at), len(self._arena)
            self._arena += conns._arena
            self._at.extend(LIVE if at == LIVE else at + shift for at in conns._at)
            self._live.update((base + i, c) for i, c in conns._live.items())
        else:
            for c in conns:
                self.append(c)

    def take(self, other: "ConnectionTable") -> None:
        """Move `other`'s connections to the end of this table (`other` is left empty): no copy of its
        records when this one is empty (the end of a pass, with the reassembler's table still alive)."""
        if not self._at:
            self._at, self._arena, self._live = other._at, other._arena, other._live
        else:
            self.extend(other)
        other._at, other._arena, other._live = array("Q"), bytearray(), {}

    # -- the reassembler's packing (tcp/reassembly.py) ---------------------------

    def pack_at(self, i: int) -> None:
        """The connection at `i`, closed, becomes a record."""
        conn = self._live.pop(i)
        self._at[i] = len(self._arena)
        self._arena += pack(conn)

    def revive_at(self, i: int) -> Connection:
        """The packed connection at `i` becomes an object again (its record is left unused)."""
        conn = self._live[i] = unpack(self._arena, self._at[i])
        self._at[i] = LIVE
        return conn

    def set_last(self, i: int, ts: float, frame: int) -> None:
        """A late packet (an ACK of its FIN, a retransmission) of the packed connection at `i`."""
        at = self._at[i]
        conn = unpack(self._arena, at)
        conn.last_ts, conn.last_frame = ts, frame
        rec = pack(conn)
        if len(rec) == record_size(self._arena, at):
            self._arena[at:at + len(rec)] = rec
        else:  # (now wider: a new record)
            self._at[i] = len(self._arena)
            self._arena += rec

    def key_at(self, i: int) -> bytes:
        """The flow_key (client → server) of the packed connection at `i`."""
        arena, at = self._arena, self._at[i]
        n = 16 if arena[at] & _V6 else 4
        a = at + _HEAD[bool(arena[at] & _WIDE)].size
        return bytes(arena[a:a + 2 * n]) + _PORTS.pack(*_KEY_PORTS.unpack_from(arena, at + 2))

    def _head_at(self, i: int) -> tuple:
        arena, at = self._arena, self._at[i]
        return _HEAD[bool(arena[at] & _WIDE)].unpack_from(arena, at)

    def stream_at(self, i: int) -> int:
        return self._head_at(i)[4]

    def last_frame_at(self, i: int) -> int:
        return self._head_at(i)[8]

    def closed_at(self, i: int) -> str:
        return CLOSED[self._head_at(i)[1]]


_EMPTY, _GONE = 0, 1  # ClosedFlows slots: never used, used once (probing goes on past it); else position + 2


class ClosedFlows:
    """flow_key (client → server) → position in the table of a packed connection: open addressing with
    linear probing in an array of 32-bit slots, kept at most half full; the keys are not stored but read
    from the records (`ConnectionTable.key_at`), so an entry costs 8-16 bytes."""

    __slots__ = ("table", "slots", "used", "filled")

    def __init__(self, table: ConnectionTable) -> None:
        self.table = table
        self.slots = array("I", bytes(4 * 8))
        self.used = 0  # entries
        self.filled = 0  # slots not _EMPTY

    def __len__(self) -> int:
        return self.used

    def _slot(self, key: bytes) -> int:
        """The slot holding `key`, or -1."""
        slots, mask, key_at = self.slots, len(self.slots) - 1, self.table.key_at
        s = hash(key) & mask
        while True:
            v = slots[s]
            if v == _EMPTY:
                return -1
            if v != _GONE and key_at(v - 2) == key:
                return s
            s = (s + 1) & mask

    def get(self, key: bytes) -> int | None:
        s = self._slot(key)
        return None if s < 0 else self.slots[s] - 2

    def pop(self, key: bytes) -> int | None:
        s = self._slot(key)
        if s < 0:
            return None
        i, self.slots[s] = self.slots[s] - 2, _GONE
        self.used -= 1
        return i

    def add(self, key: bytes, i: int) -> None:
        """The packed connection at position `i` has endpoints `key` (replacing an earlier one)."""
        s = self._slot(key)
        if s >= 0:
            self.slots[s] = i + 2
            return
        if 2 * (self.filled + 1) > len(self.slots):
            self._resize()
        slots, mask = self.slots, len(self.slots) - 1
        s = hash(key) & mask
        while slots[s] > _GONE:
            s = (s + 1) & mask
        self.filled += slots[s] == _EMPTY
        slots[s] = i + 2
        self.used += 1

    def _resize(self) -> None:
        old = self.slots
        size = 8
        while size < 4 * (self.used + 1):
            size <<= 1
        self.slots, self.filled = array("I", bytes(4 * size)), 0
        slots, mask, key_at = self.slots, size - 1, self.table.key_at
        for v in old:
            if v > _GONE:
                s = hash(key_at(v - 2)) & mask
                while slots[s]:
                    s = (s + 1) & mask
                slots[s] = v
                self.filled += 1
