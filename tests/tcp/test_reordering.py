"""Reordered packets are not lost bytes: rig captures with records swapped (as `-i any` and multi-queue
NICs deliver them, ACKs before the data they acknowledge, answers before their question) give the
analysis of the original, while a really lost segment is still a gap.  Keep-alive probes are not data."""

from __future__ import annotations

import collections
import random

import dpkt
import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.pipeline import decode
from tests.support.rig import capture, keys


def _records(path):
    with open(path, "rb") as f:
        r = dpkt.pcap.Reader(f)
        return r.datalink(), list(r)


def _write(path, linktype, records):
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=linktype)
        for ts, buf in records:
            w.writepkt(buf, ts)


def reordered(src, dst, share: float, window: int, seed: int = 1) -> int:
    """Swap `share` of the records each with one up to `window` positions later (no record moves
    twice, so none is displaced by more than `window`).  Returns how many pairs were swapped."""
    lt, recs = _records(src)
    rng = random.Random(seed)
    touched, swapped = set(), 0
    for _ in range(int(len(recs) * share)):
        i = rng.randrange(len(recs) - 1)
        j = min(len(recs) - 1, i + rng.randint(1, window))
        if i in touched or j in touched:
            continue
        touched.update((i, j))
        recs[i], recs[j] = recs[j], recs[i]
        swapped += 1
    _write(dst, lt, recs)
    return swapped


def essence(path, scenario):
    """The analysis without what reordering changes by definition: frame and stream numbers."""
    k = keys(scenario)
    res = decode(str(path), keylog=[k] if k else [])
    doc = analyze(res).to_dict()
    gaps = sum(ds.gap_bytes for c in res.connections for ds in c.dirs)
    sql = collections.Counter((s["command"], s["sql"], s["result"], s["rows"], s["affected_rows"], s["error_code"],
                               s["request_time"], s["response_time"], s["incomplete"], s["gap"]) for s in doc["sql"])
    calls = collections.Counter((c["method"], c["uri"], c["status"], c["request_time"], c["response_end"],
                                 c["incomplete"], c["gap"], c["kind"], c["image_id"], str(c["request_digests"]))
                                for c in doc["calls"])
    images = sorted((i["id"], i["final_status"], tuple((t["status"], t["time"]) for t in i["transitions"]))
                    for i in doc["images"])
    findings = collections.Counter((f["severity"], f["code"], f["message"]) for f in doc["findings"])
    return gaps, sql, calls, images, findings


_ORIGINAL = {}


def original(scenario):
    if scenario not in _ORIGINAL:
        _ORIGINAL[scenario] = essence(capture(scenario), scenario)
    return _ORIGINAL[scenario]


# adjacent swaps at 1, 2 and 5 %, and records moved up to 2 … 50 positions
CASES = [("plain_overcloud", 0.01, 1), ("tls_overcloud", 0.02, 1), ("failures", 0.05, 1),
         ("failures", 0.05, 2), ("plain_overcloud", 0.02, 10), ("tls_overcloud", 0.02, 50),
         ("plain_overcloud", 0.05, 50)]


@pytest.mark.parametrize("scenario,share,window", CASES)
def test_reordered_capture_gives_the_original_analysis(tmp_path, scenario, share, window):
    path = tmp_path / "reordered.pcap"
    assert reordered(capture(scenario), path, share, window) > 10
    want = original(scenario)
    got = essence(path, scenario)
    assert got[0] == 0, "reordering alone loses nothing"
    assert got == want


def test_real_loss_is_still_a_gap(tmp_path):
    """One data record dropped and the rest reordered: its bytes are a gap, nothing else is."""
    lt, recs = _records(capture("plain_overcloud"))
    victim = next(i for i, (_ts, buf) in enumerate(recs) if i > 2000 and len(dpkt.ethernet.Ethernet(buf).data.data.data) > 100)
    lost = len(dpkt.ethernet.Ethernet(recs[victim][1]).data.data.data)
    del recs[victim]
    _write(tmp_path / "lost.pcap", lt, recs)
    reordered(tmp_path / "lost.pcap", tmp_path / "lost-reordered.pcap", 0.02, 10)
    res = decode(str(tmp_path / "lost-reordered.pcap"))
    assert sum(ds.gap_bytes for c in res.connections for ds in c.dirs) == lost


def _probe_before(buf: bytes) -> bytes:
    """A keep-alive probe of the sender of `buf` (scapy): one byte at its sequence number - 1."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    pkt = Ether(buf)
    tcp = pkt[TCP]
    tcp.seq, tcp.flags = (tcp.seq - 1) & 0xFFFFFFFF, "A"
    tcp.remove_payload()
    tcp.add_payload(b"\x00")
    del pkt[IP].len, pkt[IP].chksum, tcp.chksum
    return bytes(pkt)


def _ack_of(probe: bytes) -> bytes:
    """The peer's answer to a keep-alive probe: a bare ACK of what it had acknowledged already."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    pkt = Ether(probe)
    ip, tcp = pkt[IP], pkt[TCP]
    ip.src, ip.dst = ip.dst, ip.src
    tcp.sport, tcp.dport = tcp.dport, tcp.sport
    tcp.seq, tcp.ack = tcp.ack, (tcp.seq + 1) & 0xFFFFFFFF
    tcp.remove_payload()
    del ip.len, ip.chksum, tcp.chksum
    return bytes(pkt)


def test_keepalive_probes_inside_mysql_connections_are_not_data(tmp_path):
    """Probes from either side (each answered by the peer's ACK) before 40 records of MySQL
    connections: the same statements, no byte more delivered, no gap."""
    lt, recs = _records(capture("plain_overcloud"))
    out, probes = [], 0
    for i, (ts, buf) in enumerate(recs):
        tcp = dpkt.ethernet.Ethernet(buf).data.data
        if probes < 40 and i > 1000 and i % 13 == 0 and 3306 in (tcp.sport, tcp.dport) and len(tcp.data):
            probe = _probe_before(buf)
            out += [(ts, probe), (ts, _ack_of(probe))]
            probes += 1
        out.append((ts, buf))
    assert probes == 40
    _write(tmp_path / "probes.pcap", lt, out)

    def decoded(path):
        from glancetrace.protocols.mysql import SqlStatement
        res = decode(str(path))
        return ([(s.command, s.sql, s.result, s.incomplete) for s in res.of_type(SqlStatement)],
                [(ds.delivered, ds.gap_bytes) for c in res.connections for ds in c.dirs])

    assert decoded(tmp_path / "probes.pcap") == decoded(capture("plain_overcloud"))


@pytest.mark.parametrize("port", [9292, 3306])
def test_capture_starting_with_a_keepalive_probe(tmp_path, port):
    """The capture starts mid-connection with a keep-alive probe of a client that then sends a
    request: the probe neither anchors the stream nor reaches the decoder (HTTP and MySQL)."""
    from glancetrace.protocols.http import HttpTransaction
    from glancetrace.protocols.mysql import SqlStatement

    lt, recs = _records(capture("plain_overcloud"))
    start = next(i for i, (_ts, buf) in enumerate(recs) if i > 3000
                 and (t := dpkt.ethernet.Ethernet(buf).data.data).dport == port and len(t.data) > 20)
    cut = recs[start:]
    _write(tmp_path / "cut.pcap", lt, cut)
    ts0, buf0 = cut[0]
    _write(tmp_path / "probe.pcap", lt, [(ts0 - 0.5, _probe_before(buf0))] + cut)

    def decoded(path, shift):
        res = decode(str(path))
        if port == 3306:
            evs = [(s.command, s.sql, s.result, s.incomplete, s.request_frames[0] - shift)
                   for s in res.of_type(SqlStatement) if s.conn_id == 0]
        else:
            evs = [(t.method, t.uri, t.status, t.incomplete, t.request_frames[0] - shift)
                   for t in res.of_type(HttpTransaction) if t.conn_id == 0]
        return evs, res.connections[0].dirs[0]

    want, plain = decoded(tmp_path / "cut.pcap", 0)
    got, probed = decoded(tmp_path / "probe.pcap", 1)
    assert want and want[0][3] is False, "the request after the cut is decoded whole"
    assert got == want
    assert (probed.delivered, probed.gap_bytes) == (plain.delivered, plain.gap_bytes)
