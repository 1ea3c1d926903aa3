"""LinkDecoder against tshark (and dpkt) on real captures of every link type."""

from __future__ import annotations

import ipaddress

import dpkt
import pytest

from glancetrace.capture.ip import SKIP_FRAGMENT
from glancetrace.capture.link import SKIP_NOT_TCP, LinkDecoder
from glancetrace.capture.pcapfile import CaptureReader
from tests.support.loopback import tshark_fields

KINDS = ["lo", "nano", "bigendian", "gz", "snap96", "sll", "sll2", "vlan", "frag", "twoif"]
FIELDS = ["frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport",
          "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.len", "tcp.window_size_value"]


def decode_all(path):
    r = CaptureReader(str(path))
    link = LinkDecoder()
    segs = {}
    n = 0
    for frame, ts, iface, data, _orig in r.packets():
        n += 1
        seg = link.decode(r.info.interfaces[iface].linktype, data)
        if seg is not None:
            segs[frame] = (seg, bytes(seg.payload))
    link.finish()
    return r, link, segs, n


@pytest.mark.parametrize("kind", KINDS)
def test_segments_match_tshark(caps, kind):
    if kind not in caps:
        pytest.skip(f"{kind} capture not made (tool missing)")
    r, link, segs, n = decode_all(caps[kind])
    # the accounting identity: every frame read is a segment or counted as skipped
    assert n == r.info.packets == len(segs) + sum(link.skipped.values())
    want = tshark_fields(caps[kind], "tcp", FIELDS)
    assert [int(w[0]) for w in want] == sorted(segs), "the same frames carry TCP"
    for w in want:
        seg, payload = segs[int(w[0])]
        src, dst = (w[1], w[3]) if w[1] else (w[2], w[4])
        assert str(ipaddress.ip_address(seg.src)) == src.split("|")[-1]
        assert str(ipaddress.ip_address(seg.dst)) == dst.split("|")[-1]
        assert (seg.sport, seg.dport, seg.seq, seg.ack) == tuple(int(x) for x in w[5:9])
        assert seg.flags == int(w[9], 16) & 0xFF
        assert len(payload) + seg.missing == int(w[10]), f"frame {w[0]} payload length"
        assert seg.window == int(w[11])
    if kind == "snap96":
        assert any(s.missing for s, _p in segs.values())
    else:
        assert not any(s.missing for s, _p in segs.values())


def test_udp_and_ipv6_are_seen(caps):
    r, link, segs, n = decode_all(caps["lo"])
    assert link.skipped[SKIP_NOT_TCP] == 4  # the four UDP datagrams
    assert any(len(s.src) == 16 for s, _p in segs.values())  # the ::1 upload


def test_fragments_reassemble_to_the_original_segments(caps):
    _r, _l, whole, n_whole = decode_all(caps["lo"])
    r, link, frag, n = decode_all(caps["frag"])
    assert n == len(frag) + sum(link.skipped.values())
    # a datagram in k fragments: k - 1 held frames, then its segment
    assert n - n_whole > 10 and link.skipped[SKIP_FRAGMENT] == n - n_whole
    key = lambda s, p: (s.src, s.sport, s.dst, s.dport, s.seq, s.ack, s.flags, p)  # noqa: E731
    assert [key(*v) for _f, v in sorted(frag.items())] == [key(*v) for _f, v in sorted(whole.items())]


def test_payload_equals_dpkt(caps):
    """dpkt's view of the same Ethernet frames (a second opinion on payload bytes)."""
    _r, _l, segs, _n = decode_all(caps["vlan"])
    with open(caps["vlan"], "rb") as f:
        for frame, (_ts, buf) in enumerate(dpkt.pcap.Reader(f), 1):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.tcp.TCP):
                seg, payload = segs[frame]
                assert payload == bytes(ip.data.data)
                assert (seg.seq, seg.ack, seg.flags) == (ip.data.seq, ip.data.ack, ip.data.flags)
            else:
                assert frame not in segs


def test_truncated_headers_are_counted_not_raised():
    link = LinkDecoder()
    assert link.decode(1, memoryview(b"\x00" * 12 + b"\x08\x00" + b"\x45\x00")) is None
    assert link.decode(113, memoryview(b"\x00" * 5)) is None
    assert link.decode(999, memoryview(b"\x00" * 60)) is None
    assert sum(link.skipped.values()) == 3
