"""A body's bytes over time (protocols/http/progress.py): bounded, monotone, ending at the body's size,
pauses kept flat, capture gaps marked — on hand-made series and on a real upload damaged with dpkt."""

from __future__ import annotations

import hashlib

import dpkt
from hypothesis import given, settings
from hypothesis import strategies as st

from glancetrace.pipeline import decode
from glancetrace.protocols.http.body import BodySink
from glancetrace.protocols.http.digests import InlineHashing
from glancetrace.protocols.http.events import BodyInfo, HttpTransaction
from glancetrace.protocols.http.progress import MAX_GAPS, MAX_POINTS, Progress
from tests.conftest import FIXTURES

RIG = FIXTURES / "rig" / "plain_overcloud" / "capture.pcap"


def _monotone(points):
    return all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(points, points[1:]))


def test_a_million_segments_stay_within_the_bound_and_end_at_the_size():
    p = Progress()
    total = 0
    for i in range(1_000_000):
        total += 1448
        p.add(1000.0 + i * 1e-5, total)
    pts = p.series()
    assert len(pts) <= MAX_POINTS + 1
    assert _monotone(pts)
    assert pts[0] == (1000.0, 1448) and pts[-1] == (1000.0 + 999_999 * 1e-5, total)


def test_a_pause_stays_flat():
    p = Progress()
    total = 0
    for i in range(20_000):  # 2 s of steady flow, a 5 s stall, 2 s more
        total += 1000
        t = 10.0 + i * 1e-4 + (5.0 if i >= 10_000 else 0.0)
        p.add(t, total)
    pts = p.series()
    flat = [(a, b) for a, b in zip(pts, pts[1:]) if b[0] - a[0] >= 4.9]
    assert len(flat) == 1
    before, after = flat[0]
    assert before == (10.0 + 9_999 * 1e-4, 10_000 * 1000)  # exactly where the flow stopped
    assert after[1] - before[1] == 1000  # the next segment's bytes, not a slope across the stall


def test_gaps_are_bounded():
    p = Progress()
    for i in range(MAX_GAPS + 7):
        p.gap(float(i), i * 10, 10)
    assert len(p.gaps) == MAX_GAPS and p.gaps_dropped == 7


def _uploads(path) -> list[HttpTransaction]:
    return [e for e in decode(str(path)).events
            if isinstance(e, HttpTransaction) and e.method == "PUT" and (e.uri or "").endswith("/file")]


def test_real_uploads_carry_their_series():
    ups = _uploads(RIG)
    assert ups
    for tx in ups:
        pts = tx.request_body.progress
        assert 2 <= len(pts) <= MAX_POINTS + 1 and _monotone(pts)
        assert pts[-1][1] == tx.request_body.size > 0
        assert tx.request_first_time <= pts[0][0] and pts[-1][0] <= tx.request_last_time
        assert tx.request_body.gaps == []


def test_a_lost_segment_inside_an_upload_is_a_marked_gap(tmp_path):
    """The real capture with two of the first upload's body segments left out."""
    up = min(_uploads(RIG), key=lambda tx: tx.request_first_time)
    port = int(up.client.rsplit(":", 1)[1])
    with open(RIG, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        records = list(reader)
        linktype = reader.datalink()
    body_segments = []
    for i, (ts, buf) in enumerate(records):
        ip = dpkt.ethernet.Ethernet(buf).data if linktype == dpkt.pcap.DLT_EN10MB else dpkt.sll.SLL(buf).data
        tcp = ip.data
        if isinstance(tcp, dpkt.tcp.TCP) and tcp.sport == port and len(tcp.data) > 1000 and b"HTTP/1.1" not in tcp.data[:200]:
            body_segments.append(i)
    drop = set(body_segments[len(body_segments) // 2: len(body_segments) // 2 + 2])
    out = tmp_path / "lost.pcap"
    with open(out, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=linktype, snaplen=262144)
        for i, (ts, buf) in enumerate(records):
            if i not in drop:
                w.writepkt(buf, ts)
    damaged = min(_uploads(out), key=lambda tx: tx.request_first_time)
    body = damaged.request_body
    assert damaged.gap and len(body.gaps) >= 1
    lost = sum(n for _, _, n in body.gaps)
    assert 2000 <= lost  # two full segments' worth
    assert body.progress[-1][1] == body.size == up.request_body.size  # lost bytes still count in the size
    assert _monotone(body.progress)
    t, offset, _ = body.gaps[0]
    assert 0 < offset < body.size and body.progress[0][0] <= t <= body.progress[-1][0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from((0.0, 1e-5, 0.001, 0.001, 0.3, 5.0, -0.2)),
                          st.sampled_from((1, 1400, 1400, 1400, 400_000)), st.booleans()),
                min_size=MAX_POINTS * 2, max_size=MAX_POINTS * 3))  # (past MAX_POINTS: points are then skipped)
def test_a_body_sink_records_the_progress_and_digests_a_progress_and_hashlib_do(steps):
    """BodySink tests Progress.add's first case itself (a call per segment less) and gathers its own digest
    batches: the same segments (late ones, pauses, gaps, batches across BATCH) give the series a Progress
    gives and the digests hashlib gives."""
    sink = BodySink(BodyInfo(), 0, InlineHashing())
    ref, whole, ts, total = Progress(), hashlib.sha256(), 100.0, 0
    for dt, n, gap in steps:
        ts += dt
        if gap:
            sink.lost(n, ts)
            ref.gap(ts, total, n)
        else:
            data = bytes([n % 251]) * n
            sink.feed(memoryview(data), ts)
            whole.update(data)
        total += n
        ref.add(ts, total)
    info = sink.finish()
    assert info.size == total and info.progress == ref.series() and info.gaps == ref.gaps
    assert info.sha256 == whole.hexdigest()  # (lost bytes are hashed by neither)
