"""tcp/table.py: closed connections packed into records read back as they were, on real captures; packing
at every close changes nothing decoded; a flood of short connections keeps one record each, and late
packets of a packed connection find its stream."""

from __future__ import annotations

import pytest

from glancetrace.capture.segment import ACK, PSH, RST, SYN, Segment
from glancetrace.pipeline import decode
from glancetrace.protocols.tcp_facts import TcpFacts
from glancetrace.tcp import reassembly
from glancetrace.tcp.connection import _UNSEEN, Connection, DirectionSummary
from glancetrace.tcp.reassembly import TcpReassembler
from glancetrace.tcp.table import ClosedFlows, ConnectionTable, flow_key, pack, unpack
from tests.support.rig import capture

FIELDS = ("stream", "client_raw", "server_raw", "first_ts", "first_frame", "last_ts", "last_frame", "midstream",
          "closed", "decoded", "rst", "repeats")


def _state(c) -> tuple:
    dirs = tuple(d if isinstance(d, DirectionSummary) else DirectionSummary.of(d) for d in c.dirs)
    return tuple(getattr(c, f) for f in FIELDS) + (dirs, c.client, c.server)


@pytest.mark.parametrize("scenario", ["failures", "concurrent"])
def test_records_read_back_as_the_connections_were(scenario):
    res = decode(capture(scenario))
    conns = list(res.connections)
    assert len(conns) > 20
    for c in conns:
        c.closed = c.closed or "end of capture"  # (a connection without a decoder is never closed)
        assert _state(unpack(pack(c))) == _state(c)
    table = ConnectionTable(conns)
    assert table.packed() == len(conns)
    assert [_state(c) for c in table] == [_state(c) for c in conns]


def _events(res) -> list[str]:
    return [repr(e) for e in res.events]


@pytest.mark.parametrize("scenario", ["failures", "concurrent"])
def test_packing_at_the_next_close_changes_nothing_decoded(monkeypatch, scenario):
    """Real captures (pooled MySQL connections, keep-alive HTTP, resets): every connection packed as soon as
    the next one closes (its late ACKs then update its record) gives the same events, TCP facts included
    (zero windows, retransmissions, FIN/RST), and the same connections."""
    path = capture(scenario)
    kept = decode(path)
    monkeypatch.setattr(reassembly, "RECENT_LIMIT", 1)
    packed = decode(path)
    assert packed.connections.packed() > 20
    assert any(isinstance(e, TcpFacts) for e in packed.events)
    assert _events(packed) == _events(kept)
    assert [_state(c) for c in packed.connections] == [_state(c) for c in kept.connections]


class Counter:
    def __init__(self, conn, seen):
        self.stream = conn.stream
        self.seen = seen

    def data(self, d, payload, ts, frame):
        self.seen[self.stream] = self.seen.get(self.stream, b"") + bytes(payload)

    def gap(self, d, n, ts, frame):
        pass

    def close(self, ts, frame, reason):
        pass


def _seg(i, seq, flags, payload=b"", reverse=False):
    client, server = bytes([10, 1, i >> 8 & 255, i & 255]), bytes([10, 0, 0, 1])
    if reverse:
        return Segment(server, 9292, client, 40000 + i % 20000, 5000, seq, flags, 65535, memoryview(payload), 0)
    return Segment(client, 40000 + i % 20000, server, 9292, seq, 5001, flags, 65535, memoryview(payload), 0)


def test_a_flood_of_short_connections_keeps_a_record_each(monkeypatch):
    """3,000 connections (a SYN and one byte each) with ~100 decoders at most and 50 closed ones kept as objects:
    each is one stream, its byte delivered once, none taken for mid-stream; then late packets of packed ones."""
    monkeypatch.setattr(reassembly, "LIVE_LIMIT", 100)
    monkeypatch.setattr(reassembly, "RECENT_LIMIT", 50)
    seen: dict[int, bytes] = {}
    tcp = TcpReassembler(lambda conn: Counter(conn, seen), server_ports={9292})
    frame = 0
    for i in range(3000):
        tcp.add(_seg(i, 1000, SYN), i * 1e-3, frame := frame + 1)
        tcp.add(_seg(i, 1001, ACK | PSH, b"G"), i * 1e-3 + 5e-4, frame := frame + 1)
    assert len(tcp.connections) == 3000
    packed = tcp.connections.packed()
    assert packed > 2500 and len(tcp.flows) <= 2 * (112 + 50 + 1)
    assert seen == {i: b"G" for i in range(3000)}
    assert not any(c.midstream for c in tcp.connections)
    # a packed connection released as idle speaks again: same stream, a decoder again (mid-stream; the
    # bytes wait as a possible answer until the server shows or the connection ends)
    tcp.add(_seg(7, 1002, ACK | PSH, b"ET"), 10.0, frame := frame + 1)
    assert len(tcp.connections) == 3000
    assert tcp.connections[7].last_frame == frame and tcp.connections[7].midstream
    # it is reset, packed after 50 more closes, then a late packet shows: counted in its record
    tcp.add(_seg(7, 1004, ACK | RST), 10.1, frame := frame + 1)
    assert tcp.connections[7].closed == "rst" and seen[7] == b"GET"
    for i in range(3000, 3060):
        tcp.add(_seg(i, 1000, SYN), 11.0 + i * 1e-3, frame := frame + 1)
        tcp.add(_seg(i, 1001, ACK | RST), 11.0 + i * 1e-3, frame := frame + 1)
    assert tcp.connections.object_at(7) is None
    tcp.add(_seg(7, 1005, ACK), 20.0, frame := frame + 1)
    assert len(tcp.connections) == 3060
    assert tcp.connections[7].last_frame == frame and tcp.connections[7].closed == "rst"
    # a new SYN on its ports: a new stream
    tcp.add(_seg(7, 9000, SYN), 21.0, frame := frame + 1)
    assert len(tcp.connections) == 3061 and tcp.connections[3060].client_raw == tcp.connections[7].client_raw


def _conn(stream, client_raw=(bytes([10, 0, 0, 2]), 40000), **kw) -> Connection:
    c = Connection(stream=stream, client_raw=client_raw, server_raw=(bytes(len(client_raw[0])), 3306),
                   first_ts=1.7e9 + stream, first_frame=stream + 1, last_ts=1.7e9 + stream + 0.5,
                   last_frame=stream + 9, closed="fin", **kw)
    c.summarise()
    return c


def test_wide_ipv6_silent_and_one_sided_records_read_back_field_for_field():
    """Numbers past 32 bits take the wide layout; IPv6 endpoints, a direction never seen, a SYN without data
    (isn known, next_seq known) and the time a silent decoder closed all come back as they were."""
    big = DirectionSummary(next_seq=0xFFFFFFFF, offset=5 << 32, delivered=(5 << 32) - 7, gap_bytes=7,
                           retransmitted=1 << 33, conflicting_overlaps=3, syn=True, isn=0, fin=True)
    small = DirectionSummary(next_seq=1002, offset=1, delivered=1, isn=1000, syn=True)
    six = (bytes(range(16)), 51000)
    conns = [
        _conn(0),  # both directions unseen
        _conn(1, silent_at=1.7e9 + 1.25, midstream=True),
        _conn(2, client_raw=six, rst=True, repeats=1 << 32, decoded=True),
        _conn(3, client_raw=six),
    ]
    conns[0].dirs = (_UNSEEN, _UNSEEN)
    conns[1].dirs = (small, _UNSEEN)
    conns[2].dirs = (big, small)
    conns[3].dirs = (_UNSEEN, big)
    conns[3].last_frame = 1 << 40
    for c in conns:
        assert _state(unpack(pack(c))) + (c.silent_at,) == _state(c) + (c.silent_at,)
    assert len(pack(conns[2])) > len(pack(conns[1]))  # (wide)
    table = ConnectionTable(conns)
    assert table.packed() == 4 and [_state(c) for c in table] == [_state(c) for c in conns]
    assert [c.silent_at for c in table] == [None, 1.7e9 + 1.25, None, None]
    assert [_state(c) for c in table[1:3]] == [_state(c) for c in conns[1:3]] and _state(table[-1]) == _state(conns[3])
    # a late packet: the record rewritten in place, or appended anew when its frame needs the wide layout
    table.set_last(1, 1.7e9 + 9.0, 77)
    table.set_last(0, 1.7e9 + 9.5, 1 << 33)
    assert (table[1].last_ts, table[1].last_frame, table[1].silent_at) == (1.7e9 + 9.0, 77, 1.7e9 + 1.25)
    assert (table[0].last_ts, table[0].last_frame) == (1.7e9 + 9.5, 1 << 33)
    assert [_state(c)[1:5] for c in table] == [_state(c)[1:5] for c in conns]
    # moved whole to another table (the pipeline's): nothing copied, the source left empty
    other = ConnectionTable([_conn(0)])
    other.take(table)
    assert len(table) == 0 and len(other) == 5 and other[4].last_frame == 1 << 40


def test_closed_flows_find_every_packed_connection_by_its_endpoints():
    """The open-addressing index over records: 5,000 entries (it grows ten times), a third popped again (their
    slots stay probed past), re-added ones replace the earlier position; absent keys are not found."""
    table = ConnectionTable()
    flows = ClosedFlows(table)
    keys = []
    for i in range(5000):
        c = _conn(i, client_raw=(bytes([10, 1, i >> 8, i & 255]), 40000 + i % 7))
        table.append(c)
        keys.append(flow_key(*c.client_raw, *c.server_raw))
        flows.add(keys[-1], i)
    assert len(flows) == 5000 and all(flows.get(k) == i for i, k in enumerate(keys))
    for i in range(0, 5000, 3):
        assert flows.pop(keys[i]) == i
    assert flows.pop(keys[0]) is None and flows.get(keys[0]) is None
    assert all(flows.get(k) == (None if i % 3 == 0 else i) for i, k in enumerate(keys))
    table.append(_conn(5000, client_raw=(bytes([10, 1, 0, 1]), 40001)))  # the same endpoints as stream 1
    flows.add(keys[1], 5000)
    assert flows.get(keys[1]) == 5000 and len(flows) == 5000 - 1667
    assert flows.get(flow_key(bytes([10, 9, 9, 9]), 1, bytes(4), 3306)) is None
    assert len(flows.slots) <= 4 * 8192
