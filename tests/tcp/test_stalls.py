"""tcp/stalls.py: zero-window periods, FIN/RST senders and retransmissions, checked against tshark on
the real rig captures, and its bounds on a connection crafted from a real one."""

from __future__ import annotations

import functools
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glancetrace.capture.segment import ACK, FIN, RST, SYN, Segment
from glancetrace.pipeline import decode
from glancetrace.sniff import IGNORED
from glancetrace.tcp.reassembly import TcpReassembler
from glancetrace.protocols.tcp_facts import TcpFacts
from glancetrace.tcp.stalls import MAX_PERIODS, ConnectionTally, TcpStalls
from tests.support.loopback import tshark_fields
from tests.support.rig import capture

SCENARIOS = ["failures", "concurrent", "plain_overcloud"]


@functools.lru_cache(maxsize=None)
def _decoded(path):
    return decode(path)


def _facts(path) -> dict[int, TcpFacts]:
    return {f.conn_id: f for f in _decoded(path).of_type(TcpFacts)}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_zero_windows_are_the_ones_tshark_flags(scenario):
    path = capture(scenario)
    facts = _facts(path)
    rows = tshark_fields(path, "tcp.analysis.zero_window", ["frame.number", "tcp.stream", "tcp.srcport"])
    assert rows, "the rig's loopback uploads show zero windows"
    starts = set()
    for f in facts.values():
        for z in f.zero_windows:
            starts.add((f.conn_id, z.frames[0]))
            assert z.end is None or z.end >= z.start
    for frame, stream, sport in rows:
        f = facts[int(stream)]
        side = "server" if f.server.endswith(":" + sport) else "client"
        # every segment tshark flags lies in one of our periods of that side
        assert any(z.receiver == side and z.frames[0] <= int(frame) <= z.frames[1] for z in f.zero_windows), frame
    flagged = {(int(s), int(fr)) for fr, s, _ in rows}
    assert starts <= flagged, "a period starts on a zero-window segment"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fin_and_rst_senders_match_tshark(scenario):
    path = capture(scenario)
    facts = _facts(path)
    rows = tshark_fields(path, "tcp.flags.fin==1 || tcp.flags.reset==1",
                         ["frame.number", "tcp.stream", "tcp.srcport", "tcp.flags.reset"])
    first_fin: dict[tuple[int, str], int] = {}
    rsts: dict[int, list[tuple[int, str]]] = {}
    carried = {c.stream for c in _decoded(path).connections if c.dirs[0].delivered or c.dirs[1].delivered}
    for frame, stream, sport, reset in rows:
        f = facts.get(int(stream))
        if f is None:  # a FIN alone of a connection that carried nothing is not kept
            assert reset not in ("1", "True") and int(stream) not in carried
            continue
        side = "server" if f.server.endswith(":" + sport) else "client"
        if reset in ("1", "True"):
            rsts.setdefault(int(stream), []).append((int(frame), side))
        else:
            first_fin.setdefault((int(stream), side), int(frame))
    for (stream, side), frame in first_fin.items():
        assert facts[stream].first_end("fin", side).frame == frame
    for stream, found in rsts.items():
        ours = [(e.frame, e.sender) for e in facts[stream].ends if e.kind == "rst"]
        assert ours == found[:len(ours)] and ours
    assert first_fin


def test_failures_retransmissions_are_counted_like_tshark():
    path = capture("failures")
    ours = sum(sum(f.retransmissions) for f in _facts(path).values())
    theirs = tshark_fields(path, "tcp.analysis.retransmission || tcp.analysis.fast_retransmission",
                           ["frame.number"])
    assert ours == len(theirs) > 0


def _seg(src_port, dst_port, seq, ack, flags, window, payload=b""):
    a, b = b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x02"
    src, dst = (a, b) if src_port != 9292 else (b, a)
    return Segment(src, src_port, dst, dst_port, seq, ack, flags, window, memoryview(payload), 0)


def test_bounded_periods_wraparound_and_reset_sender():
    """A mid-stream connection near the 32-bit wrap: 40 zero-window periods of the server (16 kept, all
    counted), a resent segment across the wrap, and the client's RST."""
    tcp = TcpReassembler(lambda conn: None, server_ports={9292})
    watch = TcpStalls(tcp, capture=0, make=TcpFacts)
    seq, ts, frame = (1 << 32) - 3000, 100.0, 1
    for i in range(40):
        watch.add(_seg(50000, 9292, seq, 1, ACK, 500, b"x" * 1000), ts, frame)
        seq = (seq + 1000) & 0xFFFFFFFF
        watch.add(_seg(9292, 50000, 1, seq, ACK, 0), ts + 0.1, frame + 1)
        watch.add(_seg(9292, 50000, 1, seq, ACK, 300), ts + 1.1, frame + 2)
        ts, frame = ts + 2, frame + 3
    watch.add(_seg(50000, 9292, (seq - 1000) & 0xFFFFFFFF, 1, ACK, 500, b"x" * 1000), ts, frame)
    watch.add(_seg(50000, 9292, seq, 1, RST | ACK, 0), ts + 1, frame + 1)
    (facts,) = watch.finish()
    assert facts.zero_window_count == (0, 40)
    assert len(facts.zero_windows) == MAX_PERIODS
    assert facts.zero_window_seconds[1] == pytest.approx(40.0)
    assert all(z.receiver == "server" and z.seconds == pytest.approx(1.0) for z in facts.zero_windows)
    assert facts.retransmissions == (1, 0)
    assert [(e.kind, e.sender) for e in facts.ends] == [("rst", "client")]
    assert facts.first_end("fin") is None


def test_a_period_open_when_an_idle_connection_is_packed_goes_on_when_it_speaks_again():
    """A connection released as idle and packed away (tcp/table.py) keeps its tally; a zero window still
    open then ends where the server opens its window again, not at the packing."""
    tcp = TcpReassembler(lambda conn: None, server_ports={9292})
    watch = TcpStalls(tcp, capture=0, make=TcpFacts)
    watch.add(_seg(50000, 9292, 1000, 1, ACK, 500, b"x" * 100), 10.0, 1)
    watch.add(_seg(9292, 50000, 1, 1100, ACK, 0), 10.5, 2)  # the server stops reading
    (conn,) = tcp.connections.live()
    conn.closed = "idle"  # as _release_idle leaves it
    tcp._pack(conn)
    assert not list(tcp.connections.live()) and conn.tally is None
    watch.add(_seg(9292, 50000, 1, 1100, ACK, 400), 15.5, 3)  # … and reads again: the connection comes back
    watch.add(_seg(50000, 9292, 1100, 1, ACK, 500, b"y" * 100), 15.6, 4)
    (facts,) = watch.finish()
    assert facts.zero_window_count == (0, 1)
    (z,) = facts.zero_windows
    assert (z.start, z.end, z.frames) == (10.5, 15.5, (2, 3))
    assert facts.retransmissions == (0, 0)


_STEP = st.tuples(st.sampled_from(("data", "data", "data", "ack", "ack", "resend", "fin", "rst")),
                  st.integers(0, 1), st.sampled_from((100, 500, 1000)), st.sampled_from((0, 100, 500, 1000, 1500)))


@settings(max_examples=300, deadline=None)
@given(handshake=st.booleans(), start=st.sampled_from((1000, (1 << 32) - 700)), steps=st.lists(_STEP, max_size=40))
def test_the_fast_path_tallies_what_the_general_path_tallies(handshake, start, steps):
    """The tally's `in_order` (segments of the reassembler's fast path) is `segment` for those segments: the
    same conversation, zero windows, full windows (windows that end exactly where data ends), resends, FIN
    and RST, near the 32-bit wrap too, gives the same facts with a decoded connection (fast path) as with a
    connection nobody decodes (every segment the general path).  (Every tally is kept here: which ones are
    worth keeping reads what was delivered, and nothing is delivered without a decoder.)"""
    facts = []
    for factory in (lambda conn: IGNORED, lambda conn: None):  # (IGNORED takes every byte: the fast path runs)
        tcp = TcpReassembler(factory, server_ports={9292})
        watch = TcpStalls(tcp, capture=0, make=TcpFacts)
        nxt, last, ts, frame = [start, 5000], [None, None], 1.0, 1
        ports = ((50000, 9292), (9292, 50000))
        if handshake:
            syn = _seg(50000, 9292, start - 1, 0, SYN, 1000)
            syn.wscale = 0
            synack = _seg(9292, 50000, 4999, start, SYN | ACK, 1000)
            synack.wscale = 0
            watch.add(syn, ts, frame)
            watch.add(synack, ts + 0.1, frame + 1)
            frame += 2
        for kind, d, n, window in steps:
            ts, frame = ts + 0.5, frame + 1
            src, dst = ports[d]
            if kind == "data":
                last[d] = (nxt[d], n)
                watch.add(_seg(src, dst, nxt[d], nxt[1 - d], ACK, window, b"x" * n), ts, frame)
                nxt[d] = (nxt[d] + n) & 0xFFFFFFFF
            elif kind == "resend" and last[d] is not None:
                watch.add(_seg(src, dst, last[d][0], nxt[1 - d], ACK, window, b"x" * last[d][1]), ts, frame)
            elif kind in ("fin", "rst"):
                watch.add(_seg(src, dst, nxt[d], nxt[1 - d], (FIN if kind == "fin" else RST) | ACK, window), ts, frame)
            else:
                watch.add(_seg(src, dst, nxt[d], nxt[1 - d], ACK, window), ts, frame)
        with mock.patch.object(ConnectionTally, "worth_keeping", lambda self, conn: True):
            facts.append(watch.finish())
    assert facts[0] == facts[1]
