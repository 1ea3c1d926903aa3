"""Property tests of the sans-I/O decoders, seeded with real streams from the rig captures.

- The same bytes cut into different chunks give the same events (no state depends on segment sizes).
- Damaged bytes (flips, cuts, inserted junk, gaps) never make feed/gap/close raise, and what went wrong is
  reported (a note, a flag), never silently dropped.

Longer runs: bash scripts/fuzz.sh (HYPOTHESIS_PROFILE=fuzz raises the example counts).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancetrace.protocols.http import HttpDecoder
from glancetrace.protocols.mysql import MysqlDecoder
from tests.hardening.streams import streams

EXAMPLES = 300 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 25
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def http_decoder():
    return HttpDecoder(1, "10.0.0.1:40000", "10.0.0.2:9292")


def mysql_decoder():
    return MysqlDecoder(1, "10.0.0.1:40000", "10.0.0.2:3306")


CASES = [("plain_overcloud", 9292, http_decoder), ("failures", 9292, http_decoder),
         ("plain_overcloud", 3306, mysql_decoder), ("concurrent", 3306, mysql_decoder)]
# connections seen from their start: a capture begun mid-stream is resynchronised on segment boundaries
# (where MySQL packets start), so only these owe the same events to any chunking
FROM_START = [c for c in CASES if c[0] != "concurrent"]


def run(make, chunks, gaps=()):
    """Feed (direction, bytes) chunks; `gaps` is a set of chunk indexes replaced by a gap."""
    dec = make()
    events = []
    for i, (d, b) in enumerate(chunks):
        if i in gaps:
            events += dec.gap(d, len(b), float(i), i + 1)
        else:
            events += dec.feed(d, b, float(i), i + 1)
    events += dec.close(float(len(chunks)), len(chunks), "end of capture")
    return events


def signature(events):
    """What must not depend on chunking: the decoded facts, not the frame numbers."""
    out = []
    for e in events:
        name = type(e).__name__
        if name == "HttpTransaction":
            out.append((name, e.method, e.uri, e.status, e.request_body.size, e.request_body.md5,
                        e.response_body.size, e.incomplete, e.gap))
        elif name == "SqlStatement":
            out.append((name, e.command, e.sql, e.result, e.affected_rows, e.rows, e.error_code, e.incomplete))
        elif name == "MysqlHandshake":
            out.append((name, e.user, e.database, e.server_version))
    return out


def rechunk(chunks, cuts):
    """The same bytes per direction, cut at other places (direction changes are kept)."""
    out = []
    k = 0
    for d, b in chunks:
        pos = 0
        while pos < len(b):
            size = max(1, cuts[k % len(cuts)])
            k += 1
            out.append((d, b[pos:pos + size]))
            pos += size
    return out


@SETTINGS
@given(case=st.sampled_from(FROM_START), which=st.integers(0, 5),
       cuts=st.lists(st.integers(1, 3000), min_size=1, max_size=20))
def test_chunking_does_not_change_the_events(case, which, cuts):
    scenario, port, make = case
    conns = streams(scenario, port)
    chunks = conns[which % len(conns)]
    whole = signature(run(make, chunks))
    assert whole, "the seed stream decodes to something"
    assert signature(run(make, rechunk(chunks, cuts))) == whole


@SETTINGS
@given(case=st.sampled_from(CASES), which=st.integers(0, 5), data=st.data())
def test_damaged_streams_never_raise_and_are_reported(case, which, data):
    scenario, port, make = case
    conns = streams(scenario, port)
    chunks = [list(x) for x in conns[which % len(conns)]]
    n = len(chunks)
    # flip bytes, cut chunks short, insert junk, and lose whole chunks
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(0, n - 1))
        b = bytearray(chunks[i][1])
        if b:
            j = data.draw(st.integers(0, len(b) - 1))
            b[j] ^= data.draw(st.integers(1, 255))
        chunks[i][1] = bytes(b)
    for _ in range(data.draw(st.integers(0, 3))):
        i = data.draw(st.integers(0, n - 1))
        chunks[i][1] = chunks[i][1][: data.draw(st.integers(0, len(chunks[i][1])))]
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, n - 1))
        chunks.insert(i, [chunks[i][0], data.draw(st.binary(min_size=1, max_size=64))])
    gaps = set(data.draw(st.lists(st.integers(0, len(chunks) - 1), max_size=3)))
    events = run(make, [tuple(c) for c in chunks if c[1]], gaps)  # must not raise
    # whatever came out is well-formed: the facts the analysis reads are of the right types
    for e in events:
        if type(e).__name__ == "HttpTransaction":
            assert e.status is None or isinstance(e.status, int)
            assert e.request_body.size >= 0 and e.response_body.size >= 0
        elif type(e).__name__ == "SqlStatement":
            assert e.result in (None, "ok", "error", "rows")
            assert e.sql is None or isinstance(e.sql, str)


@SETTINGS
@given(case=st.sampled_from(CASES), which=st.integers(0, 5), data=st.data())
def test_a_gap_inside_a_message_marks_it(case, which, data):
    """Lose part of a chunk that carries a message's middle: that message says so."""
    scenario, port, make = case
    conns = streams(scenario, port)
    chunks = conns[which % len(conns)]
    big = [i for i, (_d, b) in enumerate(chunks) if len(b) > 200]
    if not big:
        return
    i = data.draw(st.sampled_from(big))
    d, b = chunks[i]
    cut = data.draw(st.integers(50, len(b) - 50))
    dec = make()
    events = []
    for j, (dd, bb) in enumerate(chunks):
        if j == i:
            events += dec.feed(d, b[:cut], float(j), j + 1)
            events += dec.gap(d, len(b) - cut, float(j), j + 1)
        else:
            events += dec.feed(dd, bb, float(j), j + 1)
    events += dec.close(float(len(chunks)), len(chunks), "end of capture")
    marked = [e for e in events if getattr(e, "gap", False) or getattr(e, "incomplete", False)]
    assert marked, "the message the gap cut through is marked"
