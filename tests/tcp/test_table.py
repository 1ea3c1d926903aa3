"""tcp/table.py: closed connections packed into records read back as they were, on real captures; packing
at every close changes nothing decoded; a flood of short connections keeps one record each, and late
packets of a packed connection find its stream."""

from __future__ import annotations

import pytest

from glancetrace.capture.segment import ACK, PSH, RST, SYN, Segment
from glancetrace.pipeline import decode
from glancetrace.protocols.tcp_facts import TcpFacts
from glancetrace.tcp import reassembly
from glancetrace.tcp.connection import DirectionSummary
from glancetrace.tcp.reassembly import TcpReassembler
from glancetrace.tcp.table import ConnectionTable, pack, unpack
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
