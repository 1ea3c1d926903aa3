"""tcp/window_full.py on a real slow reader recorded on loopback (tests/support/slowstore.py), against
tshark's `tcp.analysis.window_full` and `tcp.window_size_scalefactor` on the same capture; the same
capture with its handshake cut off (dpkt) claims no window full without a scale; the option parser.

How periods are compared with tshark: tshark flags every data segment that ends exactly at the
receiver's window edge; a period of ours starts at the first such segment and lasts until the
receiver moves the edge on, so every period starts on a flagged frame, every flagged frame lies in a
period of the same receiver (or in the fold of those after the first MAX_PERIODS), and no more periods
are counted than frames flagged."""

from __future__ import annotations

import dpkt
import pytest

from glancetrace.capture.segment import window_scale
from glancetrace.pipeline import decode
from glancetrace.protocols.tcp_facts import TcpFacts
from glancetrace.tcp.window_full import MAX_PERIODS
from tests.support import slowstore
from tests.support.loopback import tshark_fields


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    path = tmp_path_factory.mktemp("slowstore") / "slow.pcap"
    sent = slowstore.record(path)
    assert sent["answer"].startswith(b"HTTP/1.1 204")
    return path


def _facts(path) -> TcpFacts:
    (facts,) = [f for f in decode(str(path)).of_type(TcpFacts) if f.server.endswith(":9292")]
    return facts


def _flagged(path) -> list[tuple[int, str]]:
    rows = tshark_fields(path, "tcp.analysis.window_full", ["frame.number", "tcp.srcport"])
    # the receiver is the side the flagged segment was sent to
    return [(int(frame), "client" if sport == "9292" else "server") for frame, sport in rows]


def _without(path, out, drop) -> None:
    """Copy of a capture without the frames whose TCP flags `drop` accepts."""
    with open(path, "rb") as f, open(out, "wb") as g:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(g, linktype=reader.datalink())
        for ts, buf in reader:
            tcp = _tcp(reader.datalink(), buf)
            if tcp is None or not drop(tcp.flags):
                writer.writepkt(buf, ts)


def _tcp(linktype: int, buf: bytes):
    frame = dpkt.ethernet.Ethernet(buf) if linktype == dpkt.pcap.DLT_EN10MB else dpkt.sll.SLL(buf)
    ip = frame.data
    return ip.data if isinstance(getattr(ip, "data", None), dpkt.tcp.TCP) else None


def test_periods_start_where_tshark_flags_window_full(slow):
    facts = _facts(slow)
    flagged = _flagged(slow)
    assert len(flagged) >= 20, "the slow reader filled the window again and again"
    assert facts.window_full_count[1] >= 20 and facts.window_full_count[0] == 0
    kept, (fold,) = facts.window_full[:MAX_PERIODS], facts.window_full[MAX_PERIODS:]
    assert all(p.periods == 1 for p in kept)
    assert fold.receiver == "server" and fold.periods == facts.window_full_count[1] - MAX_PERIODS
    assert sum(p.seconds for p in facts.window_full) == pytest.approx(facts.window_full_seconds[1])
    flagged_frames = {frame for frame, _ in flagged}
    for p in facts.window_full:
        assert p.receiver == "server" and p.frames[0] in flagged_frames
        assert p.end is not None and p.end >= p.start and p.frames[1] > p.frames[0]
    # every flagged frame lies in a period of that receiver, or in the fold of those not kept
    for frame, side in flagged:
        assert any(p.receiver == side and p.frames[0] <= frame <= p.frames[1] for p in facts.window_full), frame
    # disjoint periods, each starting on a flagged frame and holding every flagged frame up to its end: each
    # starts on the first flagged frame after the one before ended
    assert all(a.frames[1] < b.frames[0] for a, b in zip(facts.window_full, facts.window_full[1:]))
    assert facts.window_full_count[1] <= len(flagged)
    assert facts.window_full_seconds[1] >= 2.0, "the slow store held the upload back for seconds"


def test_window_scale_is_tsharks_scale_factor(slow):
    facts = _facts(slow)
    rows = tshark_fields(slow, "tcp.len > 0 || tcp.flags.syn == 0", ["tcp.srcport", "tcp.window_size_scalefactor"])
    factor = {("server" if sport == "9292" else "client"): int(f) for sport, f in rows if f not in ("", "-1", "-2")}
    assert factor and all(v > 1 for v in factor.values())
    assert factor == {side: 1 << s for side, s in zip(("client", "server"), facts.window_scale)}


def test_no_window_full_without_the_handshake(slow, tmp_path):
    """Handshake cut off (a capture started mid-upload): the scale is unknown, so no period is claimed
    (tshark, with its default preferences, flags none either)."""
    cut = tmp_path / "nosyn.pcap"
    _without(slow, cut, lambda flags: flags & dpkt.tcp.TH_SYN)
    facts = _facts(cut)
    assert facts.window_scale == (None, None)
    assert facts.window_full == () and facts.window_full_count == (0, 0)
    assert _flagged(cut) == []


def test_the_syn_ack_alone_gives_the_servers_scale(slow, tmp_path):
    """Only the client's SYN lost: a SYN/ACK with the option proves both used it, so the server's
    scale is known and its window-full periods are the same as with the SYN."""
    cut = tmp_path / "nosyn.pcap"
    _without(slow, cut, lambda flags: flags & dpkt.tcp.TH_SYN and not flags & dpkt.tcp.TH_ACK)
    whole, facts = _facts(slow), _facts(cut)
    assert facts.window_scale == (None, whole.window_scale[1])
    assert facts.window_full_count == whole.window_full_count
    # frames are one lower without the SYN
    assert [(p.start, p.frames[0] + 1, p.periods) for p in facts.window_full] == [
        (p.start, p.frames[0], p.periods) for p in whole.window_full]


@pytest.mark.parametrize("options, shift", [
    (bytes.fromhex("020405b4 0402 080a 0001e240 00000000 01 030307"), 7),  # Linux: MSS, SACK ok, TS, NOP, WS 7
    (bytes.fromhex("020405b4 01 030302 0101 0402"), 2),
    (bytes.fromhex("020405b4 0402 080a 0001e240 00000000"), -1),  # no window scale
    (bytes.fromhex("01 03030f"), 14),  # RFC 7323: a shift over 14 is 14
    (bytes.fromhex("01 0303"), -1),  # cut short
    (bytes.fromhex("0200 030307"), -1),  # a length under 2: the rest is unreadable
    (bytes.fromhex("00 030307"), -1),  # after the end of options
    (bytes.fromhex("030407 00"), -1),  # kind 3 with a wrong length
])
def test_window_scale_option(options, shift):
    assert window_scale(memoryview(options)) == shift


def test_both_header_paths_read_the_syns_scale_as_dpkt_does(slow):
    """capture/link.py's Ethernet fast path and capture/segment.py's general one, on the recording's SYNs."""
    from glancetrace.capture.link import LinkDecoder
    from glancetrace.capture.segment import tcp_segment

    seen = 0
    with open(slow, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(buf).data
            tcp = ip.data
            opts = dict(dpkt.tcp.parse_opts(tcp.opts))
            want = opts[dpkt.tcp.TCP_OPT_WSCALE][0] if dpkt.tcp.TCP_OPT_WSCALE in opts else -1
            fast = LinkDecoder().decode(1, memoryview(buf))
            general = tcp_segment(memoryview(bytes(tcp)), len(tcp), ip.src, ip.dst)
            if tcp.flags & dpkt.tcp.TH_SYN:
                seen += 1
                assert fast.wscale == general.wscale == want >= 0
            else:
                assert fast.wscale == general.wscale == -1  # options of other segments are not read
    assert seen == 2
