"""Nothing is lost silently: on every capture the counts add up.

- packets read = TCP segments decoded + packets skipped (by reason)
- per decoded TCP direction: bytes delivered + gap bytes = the sequence span, where the span
  is computed independently of our reassembly, from dpkt's parse of the same frames
"""

import pathlib

import dpkt
import pytest

from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.pipeline import decode
from tests.conftest import THIRDPARTY
from tests.support.rig import RIG


def _captures():
    caps = sorted(str(p) for p in RIG.glob("*/capture.pcap"))
    caps += sorted(str(p) for p in THIRDPARTY.rglob("*.pcap*") if p.suffix in (".pcap", ".pcapng", ".gz"))
    return caps


def _unwrap(seq, base):
    return (seq - base) & 0xFFFFFFFF


def spans_by_dpkt(path):
    """(src, sport, dst, dport) → sequence span of the data bytes, from dpkt alone."""
    reader = CaptureReader(path)
    first, end, acked, fin = {}, {}, {}, {}
    for _frame, _ts, iface, data, origlen in reader.packets():
        lt = reader.info.interfaces[iface].linktype
        try:
            if lt == 1:
                ip = dpkt.ethernet.Ethernet(bytes(data)).data
            elif lt in (101, 12, 14, 228, 229):
                ip = dpkt.ip.IP(bytes(data)) if data[0] >> 4 == 4 else dpkt.ip6.IP6(bytes(data))
            elif lt == 113:
                ip = dpkt.sll.SLL(bytes(data)).data
            elif lt == 0:
                ip = dpkt.loopback.Loopback(bytes(data)).data
            else:
                return None
        except (dpkt.UnpackError, IndexError, ValueError):
            continue
        tcp = getattr(ip, "data", None)
        if not isinstance(tcp, dpkt.tcp.TCP) or getattr(ip, "mf", 0) or getattr(ip, "offset", 0):
            continue
        key = (bytes(ip.src), tcp.sport, bytes(ip.dst), tcp.dport)
        declared = (ip.len - ip.hl * 4 - tcp.off * 4) if isinstance(ip, dpkt.ip.IP) else ip.plen - tcp.off * 4
        if tcp.flags & dpkt.tcp.TH_SYN:
            first.setdefault(key, (tcp.seq + 1) & 0xFFFFFFFF)
            continue
        if key not in first:
            first[key] = tcp.seq
        if declared > 0:
            rel = _unwrap(tcp.seq + declared, first[key])
            if rel < 1 << 31:
                end[key] = max(end.get(key, 0), rel)
        if tcp.flags & dpkt.tcp.TH_FIN:
            fin[key] = _unwrap(tcp.seq + max(declared, 0), first[key])
        # bytes the peer acknowledged were sent, even when the capture missed them
        peer = (key[2], key[3], key[0], key[1])
        if tcp.flags & dpkt.tcp.TH_ACK and peer in first:
            rel = _unwrap(tcp.ack, first[peer])
            if rel < 1 << 31:
                acked[peer] = max(acked.get(peer, 0), rel)
    for key, a in acked.items():
        if key in fin and a == fin[key] + 1:
            a -= 1  # the FIN's own sequence number
        if key in end or a:
            end[key] = max(end.get(key, 0), a)
    return end


@pytest.mark.parametrize("path", _captures(), ids=lambda p: pathlib.Path(p).name if "rig" not in p
                         else pathlib.Path(p).parent.name)
def test_counts_add_up(path):
    ports = {"mysql_ports": {3306, 3307, 12345}}
    res = decode(path, **ports)
    assert res.packets == res.tcp_segments + sum(res.skipped.values())
    spans = spans_by_dpkt(path)
    for conn in res.connections:
        if conn.handler is None and not conn.decoded:
            continue  # only counted, never (or no longer) decoded
        for d, ds in enumerate(conn.dirs):
            # the identity holds by the reassembler's own books …
            assert ds.delivered + ds.gap_bytes == ds.offset
            # … and against the span dpkt sees in the same frames
            src, dst = (conn.client_raw, conn.server_raw) if d == 0 else (conn.server_raw, conn.client_raw)
            if spans is not None and ds.offset:
                want = spans.get((src[0], src[1], dst[0], dst[1]), 0)
                # an ACK seen before its FIN may count the FIN's sequence number as one lost byte
                slack = 1 if ds.fin and ds.gap_bytes else 0
                assert abs(ds.offset - want) <= slack, (conn.stream, d, ds.offset, want)
