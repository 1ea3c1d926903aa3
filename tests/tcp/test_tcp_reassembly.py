"""TCP reassembly on real captures: byte accounting against tshark's sequence numbers, stream
numbers equal to tshark's tcp.stream, and real captures edited with dpkt to force sequence
wrap-around, reordering, conflicting retransmissions and keep-alive probes."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import dpkt
import pytest

from glancetrace.capture.link import LinkDecoder
from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.pipeline import Options, decode
from glancetrace.protocols.http import HttpTransaction
from glancetrace.tcp.reassembly import TcpReassembler
from tests.protocols.http.httpcaps import recorded
from tests.support.loopback import tshark_fields

M32 = 1 << 32
ZEEK = ["http/100-continue.pcap", "http/pipelined-requests.pcap", "http/x-gzip.pcap",
        "http/missing-zlib-header.pcap", "http/entity_gap.pcap", "tcp/missing-syn.pcap",
        "http/1000-requests-one-dropped-response.pcap.gz"]


@pytest.fixture(scope="session")
def caps(tmp_path_factory):
    pytest.importorskip("waitress")
    return recorded(tmp_path_factory)


class Counter:
    def __init__(self):
        self.bytes = [0, 0]
        self.gaps = [0, 0]

    def data(self, d, payload, ts, frame):
        self.bytes[d] += len(payload)

    def gap(self, d, n, ts, frame):
        self.gaps[d] += n

    def close(self, ts, frame, reason):
        pass


def reassemble(path) -> TcpReassembler:
    counters = []

    def factory(conn):
        c = Counter()
        counters.append(c)
        return c

    tcp = TcpReassembler(factory)
    reader, link = CaptureReader(str(path)), LinkDecoder()
    frame, ts = 0, 0.0
    for frame, ts, iface, data, _ in reader.packets():
        seg = link.decode(reader.info.interfaces[iface].linktype, data)
        if seg is not None:
            tcp.add(seg, ts, frame)
    tcp.finish(ts, frame)
    tcp.counters = counters
    return tcp


def tshark_spans(path) -> tuple[dict[tuple[int, str], int], dict[int, frozenset]]:
    """Per (tcp.stream, source endpoint): sequence span covered, from raw sequence numbers:
    from the first segment seen (after the SYN) to the furthest byte sent or acknowledged."""
    rows = tshark_fields(path, "tcp", ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.seq_raw",
                                       "tcp.ack_raw", "tcp.len", "tcp.flags.syn", "tcp.flags.fin",
                                       "tcp.flags.ack", "tcp.flags.reset", "ip.dst", "ipv6.dst", "tcp.dstport"],
                         extra=["-o", "tcp.desegment_tcp_streams:FALSE"])
    first, end, fin_end, acks, streams = {}, {}, {}, {}, {}
    for st, ip4, ip6, port, seq, ack, n, syn, fin, has_ack, rst, d4, d6, dport in rows:
        key = (int(st), f"{ip4 or ip6}:{port}")
        streams.setdefault(int(st), frozenset({key[1], f"{d4 or d6}:{dport}"}))
        seq, n = int(seq), int(n)
        if key not in first:
            first[key] = (seq + 1) % M32 if syn == "1" else seq
            end[key] = 0
        rel = (seq - first[key]) % M32
        if rel < M32 // 2 and n:
            end[key] = max(end[key], rel + n)
        if fin == "1":
            fin_end[key] = rel + n
        if has_ack == "1" and rst != "1":
            acks.setdefault(int(st), []).append((key, int(ack)))
    for (st, _), _ in list(first.items()):
        for key, ack in acks.get(st, []):
            for other in first:
                if other[0] == st and other != key:
                    rel = (ack - first[other]) % M32
                    if rel < M32 // 4:
                        end[other] = max(end[other], min(rel, fin_end.get(other, rel)))
    return end, streams


def _all_captures(caps, thirdparty):
    return [c.path for c in caps.values()] + [str(thirdparty / "zeek" / "traces" / z) for z in ZEEK]


def _ep(s: str) -> str:
    return s.replace("[", "").replace("]:", ":")


def test_accounting_identity_and_stream_numbers(caps, thirdparty, tmp_path):
    """On every capture the tests make or use, per connection and direction:
    delivered + gap bytes == the sequence span tshark sees, and stream numbers == tcp.stream."""
    for path in _all_captures(caps, thirdparty):
        if path.endswith(".gz"):
            plain = tmp_path / "plain.pcap"
            with gzip.open(path) as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
            spans, streams = tshark_spans(plain)
        else:
            spans, streams = tshark_spans(path)
        tcp = reassemble(path)
        assert {c.stream: frozenset({_ep(c.client), _ep(c.server)}) for c in tcp.connections} == streams, path
        for conn, c in zip(tcp.connections, tcp.counters):
            for d, ep in enumerate((conn.client, conn.server)):
                ds = conn.dirs[d]
                assert (ds.delivered, ds.gap_bytes) == (c.bytes[d], c.gaps[d])  # the handler saw the same
                assert ds.delivered + ds.gap_bytes == spans.get((conn.stream, _ep(ep)), 0), (path, conn.stream, ep)


def test_gaps_reported_where_frames_were_deleted(caps):
    for name in ("lost_response", "lost_request", "big_hole"):
        tcp = reassemble(caps[name].path)
        assert sum(c.dirs[0].gap_bytes + c.dirs[1].gap_bytes for c in tcp.connections) > 0, name
    assert all(c.dirs[0].gap_bytes == c.dirs[1].gap_bytes == 0 for c in reassemble(caps["keepalive"].path).connections)


# -- real captures edited with dpkt ----------------------------------------------------------

def _frames(path):
    with open(path, "rb") as f:
        r = dpkt.pcap.Reader(f)
        return r.datalink(), [(ts, bytes(buf)) for ts, buf in r]


def _write(path, linktype, frames):
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=linktype)
        for ts, buf in frames:
            w.writepkt(buf, ts)


def _tcp(buf):
    eth = dpkt.ethernet.Ethernet(buf)
    return eth, eth.data.data


def _summary(path, port):
    res = decode(str(path), Options(http_ports={port}, want_mysql=False))
    txs = sorted(res.of_type(HttpTransaction), key=lambda t: t.request_frames[0])
    return [(t.method, t.uri, t.status, t.request_body.size, t.request_body.md5, t.response_body.md5,
             t.incomplete, t.gap) for t in txs], res


def test_sequence_wraparound(caps, tmp_path):
    """Every client sequence number shifted so the stream crosses 2**32 inside the first connection."""
    cap = caps["keepalive"]
    lt, frames = _frames(cap.path)
    _, t0 = _tcp(frames[0][1])
    shift = (M32 - 40 - t0.seq) % M32  # the SYN sits 40 bytes below the wrap
    out = []
    for ts, buf in frames:
        eth, tcp = _tcp(buf)
        if tcp.dport == cap.port:
            tcp.seq = (tcp.seq + shift) % M32
        else:
            tcp.ack = (tcp.ack + shift) % M32 if tcp.flags & dpkt.tcp.TH_ACK else tcp.ack
        out.append((ts, bytes(eth)))
    _write(tmp_path / "wrap.pcap", lt, out)
    want, _ = _summary(cap.path, cap.port)
    got, res = _summary(tmp_path / "wrap.pcap", cap.port)
    assert got == want
    first = res.connections[0].dirs[0]
    assert first.delivered > 40 and first.gap_bytes == 0


def test_reorder_retransmit_conflict_and_keepalive_probe(caps, tmp_path):
    """Two client segments swapped, a changed copy of the later one sent first (a conflicting
    overlap), a plain retransmission and a keep-alive probe (seq - 1, one byte): same decode."""
    cap = caps["keepalive"]
    lt, frames = _frames(cap.path)
    data = [i for i, (_, b) in enumerate(frames) if _tcp(b)[1].dport == cap.port and len(_tcp(b)[1].data) > 0]
    pair = next((a, b) for a, b in zip(data, data[1:]) if b == a + 1)
    a, b = pair
    eth_b, tcp_b = _tcp(frames[b][1])
    changed = bytearray(tcp_b.data)
    changed[0] ^= 0xFF
    tcp_b.data = bytes(changed)
    eth_b.data.len = len(eth_b.data)  # keep the IP length honest
    bad_copy = bytes(eth_b)
    eth_p, tcp_p = _tcp(frames[a][1])
    probe_seq = (tcp_p.seq + len(tcp_p.data) - 1) % M32
    tcp_p.seq, tcp_p.data = probe_seq, b"\x00"
    eth_p.data.len = 0
    eth_p.data.len = len(eth_p.data)
    probe = bytes(eth_p)
    ts_a = frames[a][0]
    edited = frames[:a] + [(ts_a, frames[b][1]), (ts_a, bad_copy), frames[a], frames[a], (ts_a, probe)] + frames[b + 1:]
    _write(tmp_path / "shuffled.pcap", lt, edited)
    want, _ = _summary(cap.path, cap.port)
    got, res = _summary(tmp_path / "shuffled.pcap", cap.port)
    assert [g[:6] for g in got] == [w[:6] for w in want]
    client = [c for c in res.connections if c.dirs[0].conflicting_overlaps][0].dirs[0]
    assert client.conflicting_overlaps == 1
    assert client.retransmitted >= len(_tcp(frames[a][1])[1].data) + 1
    assert client.gap_bytes == 0


def _reuse_ports(src, dst, from_frame: int, shift: int) -> None:
    """From `from_frame` on, the connection (same ports) uses another initial sequence number on the
    side that sends the SYN, as a new connection would: its sequence numbers and the ACKs of them move."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(g, linktype=reader.datalink())
        client = None
        raw_ip = reader.datalink() == 101
        for i, (ts, buf) in enumerate(reader, 1):
            pkt = dpkt.ip.IP(buf) if raw_ip else dpkt.ethernet.Ethernet(buf)
            ip = pkt if raw_ip else pkt.data
            tcp = ip.data
            if i >= from_frame:
                if client is None:
                    client = tcp.sport  # the SYN's sender
                if tcp.sport == client:
                    tcp.seq = (tcp.seq + shift) % M32
                elif tcp.flags & dpkt.tcp.TH_ACK:
                    tcp.ack = (tcp.ack + shift) % M32
                tcp.sum = ip.sum = 0  # recomputed
                buf = bytes(pkt)
            writer.writepkt(buf, ts)


def _tshark_40() -> bool:
    return subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.startswith("TShark (Wireshark) 4.0.")


def test_port_reuse_without_a_close_is_a_new_stream_as_in_wireshark(thirdparty, tmp_path):
    """percona tcpdump036: one connection half-closed (the client's FIN only), then the same ports
    an hour later.  With the same initial sequence number Wireshark keeps one tcp.stream (the second
    SYN is a retransmission to it) and so do we; with another one both start a new stream, and the
    query of the second connection is decoded."""
    src = thirdparty / "percona-toolkit" / "pcap" / "tcpdump036.pcap"
    reused = tmp_path / "reused.pcap"
    _reuse_ports(src, reused, from_frame=10, shift=1_000_000)
    for path, streams in ((src, 1), (reused, 2)):
        oracle = {int(f): int(s) for f, s in tshark_fields(path, "tcp", ["frame.number", "tcp.stream"])}
        if path == src and not _tshark_40():
            continue  # tshark 4.2 (Ubuntu 24.04) starts a new stream there too; we follow 4.0 (Debian 12)
        assert len(set(oracle.values())) == streams
        res = decode(str(path), mysql_ports={3306})
        assert len(res.connections) == streams
        assert [c.first_frame for c in res.connections] == sorted({min(f for f, s in oracle.items() if s == st)
                                                                   for st in set(oracle.values())})
    from glancetrace.protocols.mysql import SqlStatement
    q = [s for s in res.of_type(SqlStatement) if s.command == "COM_QUERY"]
    assert [(s.conn_id, s.sql, s.row_data) for s in q] == [
        (oracle[18], 'select "paris in the the spring" as trick', [["paris in the the spring"]])]
    assert res.connections[0].closed == "port reused"
