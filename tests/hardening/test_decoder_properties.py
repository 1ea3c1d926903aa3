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
from tests.fuzz.seeds import feed, rechunk, signature
from tests.fuzz.seeds import streams as _streams

EXAMPLES = 300 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 25
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def streams(scenario, port):
    return _streams(scenario, port, limit=6, max_bytes=200_000, max_frames=None)  # the whole capture


def http_decoder():
    return HttpDecoder(1, "10.0.0.1:40000", "10.0.0.2:9292")


def mysql_decoder():
    return MysqlDecoder(1, "10.0.0.1:40000", "10.0.0.2:3306")


CASES = [("plain_overcloud", 9292, http_decoder), ("failures", 9292, http_decoder),
         ("plain_overcloud", 3306, mysql_decoder), ("concurrent", 3306, mysql_decoder)]
# connections seen from their start: a capture begun mid-stream is resynchronised on segment boundaries
# (where MySQL packets start), so only these owe the same events to any chunking
FROM_START = [c for c in CASES if c[0] != "concurrent"]


@SETTINGS
@given(case=st.sampled_from(FROM_START), which=st.integers(0, 5),
       cuts=st.lists(st.integers(1, 3000), min_size=1, max_size=20))
def test_chunking_does_not_change_the_events(case, which, cuts):
    scenario, port, make = case
    conns = streams(scenario, port)
    chunks = conns[which % len(conns)]
    whole = signature(feed(make, chunks)[1])
    assert whole, "the seed stream decodes to something"
    assert signature(feed(make, rechunk(chunks, cuts))[1]) == whole


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
    items = [(d, None, len(b)) if i in gaps else (d, b) for i, (d, b) in enumerate(chunks) if b]
    _dec, events = feed(make, items)  # must not raise
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
    _dec, events = feed(make, [*chunks[:i], (d, b[:cut]), (d, None, len(b) - cut), *chunks[i + 1:]])
    marked = [e for e in events if getattr(e, "gap", False) or getattr(e, "incomplete", False)]
    assert marked, "the message the gap cut through is marked"
