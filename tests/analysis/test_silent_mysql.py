"""MySQL connections that carried no whole packet (issue 16.6: a flood of one-byte connections) keep no event:
their TCP record says when their decoder closed, and the health-check count reads them from there as it read
their inferred handshakes (analysis/mysql_hops.py).  Crafted with dpkt: 3,000 one-byte connections to Glance,
MySQL and an unlisted port, and a steady series of one-byte MySQL connections from one address."""

from __future__ import annotations

import socket
from dataclasses import replace

import dpkt
import pytest

from glancetrace.analysis.mysql_hops import pair_hops
from glancetrace.analysis.mysql_hops_report import health_checks_summary
from glancetrace.pipeline import decode
from glancetrace.protocols.mysql.events import MysqlHandshake, SqlStatement
from glancetrace.tcp import reassembly

SERVER = socket.inet_aton("10.0.0.1")
PORTS = (9292, 3306, 8777)


def _frame(src: bytes, sport: int, dport: int, seq: int, flags: int, data: bytes = b"") -> bytes:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=1 if flags & dpkt.tcp.TH_ACK else 0, flags=flags,
                       win=65535, data=data)
    ip = dpkt.ip.IP(src=src, dst=SERVER, p=dpkt.ip.IP_PROTO_TCP, ttl=64, data=tcp)
    ip.len = 20 + len(tcp)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


@pytest.fixture(scope="module")
def flood(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("silent") / "flood.pcap"
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f)
        ts = 1.7e9
        for i in range(3000):  # never closed: released as idle, or ended by the capture
            src = bytes([10, 1 + (i >> 16), (i >> 8) & 255, i & 255])
            w.writepkt(_frame(src, 32768 + i, PORTS[i % 3], 1000, dpkt.tcp.TH_SYN), ts)
            w.writepkt(_frame(src, 32768 + i, PORTS[i % 3], 1001, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, b"G"), ts + 5e-6)
            ts += 1e-5
        for k in range(5):  # a monitor's probe every 2 s: one byte, then FIN
            src, t = socket.inet_aton("10.7.7.7"), ts + 2.0 * k
            w.writepkt(_frame(src, 50000 + k, 3306, 1000, dpkt.tcp.TH_SYN), t)
            w.writepkt(_frame(src, 50000 + k, 3306, 1001, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH | dpkt.tcp.TH_FIN, b"\x01"),
                       t + 1e-3)
    return str(path)


def _state(c) -> tuple:
    # (not `closed`: "idle" for those released, where all are "end of capture" kept whole)
    return (c.stream, c.client, c.server, c.first_ts, c.last_ts, c.first_frame, c.last_frame, c.midstream, c.silent_at,
            tuple((d.offset, d.delivered, d.next_seq, d.isn, d.syn, d.fin) for d in c.dirs))


def test_a_flood_packed_and_released_gives_what_one_kept_whole_gives(flood, monkeypatch):
    whole = decode(flood)
    monkeypatch.setattr(reassembly, "LIVE_LIMIT", 100)
    monkeypatch.setattr(reassembly, "RECENT_LIMIT", 50)
    packed = decode(flood)
    assert packed.connections.packed() > 2800
    assert [repr(e) for e in packed.events] == [repr(e) for e in whole.events]
    assert [_state(c) for c in packed.connections] == [_state(c) for c in whole.connections]
    assert sum(c.closed == "idle" for c in packed.connections) > 2500
    silent = [c for c in packed.connections if c.silent_at is not None]
    assert [c.stream for c in silent] == [c.stream for c in packed.connections if c.server_port == 3306]
    assert len(silent) == 1005 and not any(isinstance(e, MysqlHandshake) for e in packed.events)
    assert all(c.silent_at == c.last_ts for c in silent)  # (closed at its last packet: idle, FIN or the end)


def test_health_checks_count_them_as_they_counted_their_handshakes(flood):
    """The pairing fed the inferred handshakes the decoder once emitted (rebuilt here from the records) finds
    the same health checks as the pairing reading the records: the monitor's series, and nothing of the flood
    (one connection per address)."""
    res = decode(flood)
    conns = [replace(c, silent_at=None) for c in res.connections]  # (copies: the table keeps recent ones as objects)
    items = [(e.capture, e) for e in res.events if isinstance(e, (SqlStatement, MysqlHandshake))]
    old = items + [(0, MysqlHandshake(c.stream, c.client, c.server, c.silent_at, (c.last_frame, c.last_frame),
                                      inferred=True)) for c in res.connections if c.silent_at is not None]
    before = health_checks_summary(pair_hops(old, conns, res.conn_captures))
    now = health_checks_summary(pair_hops(items, res.connections, res.conn_captures))
    assert now == before == [{"proxy": "10.7.7.7", "server": "10.0.0.1:3306", "count": 5, "interval": 2.0}]
