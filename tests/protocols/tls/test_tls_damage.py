"""Damaged TLS streams: real loopback captures replayed with a flipped byte, cut by gaps,
started mid-way, or fuzzed.  Never garbage, never an exception."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancetrace.protocols.tls import KeyLog, TlsDecoder, TlsSession
from tests.protocols.tls import harness as H
from tests.protocols.tls import tlscaps as T
from tests.support.loopback import need

KINDS = {
    "tls13": dict(),
    "tls12-gcm": dict(max_version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-GCM-SHA256"),
    "tls12-chacha": dict(max_version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-CHACHA20-POLY1305"),
}


@pytest.fixture(scope="module")
def caps(tmp_path_factory):
    need("tcpdump")
    d = tmp_path_factory.mktemp("tlsdamage")
    out = {}
    for name, kw in KINDS.items():
        cap = T.record_https(d, name, **kw)
        (stream,), _ = H.streams(cap.pcap, [cap.port])
        keys = H.keylog(cap.keys)
        sess, inner, _ = H.replay(stream, keys)
        assert sess.decrypted and not inner.gaps
        out[name] = (stream, keys, bytes(inner.data[0]), sess)
    return out


def records(calls, d):
    """(offset, length) of every record in direction d's byte stream."""
    s = b"".join(c[2] for c in calls if c[0] == "data" and c[1] == d)
    out, pos = [], 0
    while pos + 5 <= len(s):
        ln = int.from_bytes(s[pos + 3:pos + 5], "big")
        out.append((pos, 5 + ln))
        pos += 5 + ln
    return out


def flip(calls, d, offset):
    out, at = [], 0
    for c in calls:
        if c[0] == "data" and c[1] == d:
            if at <= offset < at + len(c[2]):
                b = bytearray(c[2])
                b[offset - at] ^= 0x01
                c = (c[0], c[1], bytes(b), c[3], c[4])
            at += len(c[2])
        out.append(c)
    return out


def cut(calls, d, start, end):
    """Remove direction d's stream bytes [start, end) and report them as one gap."""
    out, at, gapped = [], 0, False
    for c in calls:
        if c[0] != "data" or c[1] != d:
            out.append(c)
            continue
        data, lo, hi = c[2], at, at + len(c[2])
        at = hi
        if hi <= start or lo >= end:
            out.append(c)
            continue
        if lo < start:
            out.append(("data", d, data[:start - lo], c[3], c[4]))
        if not gapped:
            out.append(("gap", d, end - start, c[3], c[4]))
            gapped = True
        if hi > end:
            out.append(("data", d, data[end - lo:], c[3], c[4]))
    return out


def assert_hole(got: bytes, orig: bytes) -> int:
    """`got` is `orig` with one contiguous piece missing (no garbage); returns its size."""
    k = len(orig) - len(got)
    assert k >= 0
    i = 0
    while i < len(got) and got[i] == orig[i]:
        i += 1
    assert got[i:] == orig[i + k:]
    return k


@pytest.mark.parametrize("kind", list(KINDS))
def test_bad_tag_record_is_dropped_not_decoded(caps, kind):
    stream, keys, orig, _ = caps[kind]
    recs = records(stream.calls, 0)
    off, ln = recs[len(recs) // 2]  # a record in the middle of the 3 MiB upload
    sess, inner, _ = H.replay(stream, keys, flip(stream.calls, 0, off + ln - 20))
    assert sess.decrypted and sess.auth_failures == 1
    assert any("failed authentication" in a for a in sess.anomalies)
    k = assert_hole(bytes(inner.data[0]), orig)
    assert 0 < k <= ln and [g for g in inner.gaps if g[0] == 0]


@pytest.mark.parametrize("kind", list(KINDS))
def test_gap_inside_one_record_keeps_framing(caps, kind):
    stream, keys, orig, _ = caps[kind]
    recs = records(stream.calls, 0)
    off, ln = recs[len(recs) // 3]
    sess, inner, _ = H.replay(stream, keys, cut(stream.calls, 0, off + 100, off + 1000))
    assert sess.decrypted and sess.auth_failures == 0 and sess.gaps == 1
    assert not any("resynchronised" in a or "skipped" in a for a in sess.anomalies)
    k = assert_hole(bytes(inner.data[0]), orig)
    assert 0 < k < ln


@pytest.mark.parametrize("kind", list(KINDS))
def test_gap_across_records_resynchronises(caps, kind):
    stream, keys, orig, full = caps[kind]
    recs = records(stream.calls, 0)
    a = recs[len(recs) // 3][0] + 777
    b = recs[len(recs) // 3 + 9][0] + 4321  # nine records and bits of two more
    sess, inner, _ = H.replay(stream, keys, cut(stream.calls, 0, a, b))
    assert sess.decrypted and sess.gaps == 1
    assert any("resynchronised at sequence" in x for x in sess.anomalies), sess.anomalies
    got = bytes(inner.data[0])
    k = assert_hole(got, orig)
    assert k >= b - a - 200 * 12  # roughly what was cut, in plaintext
    assert got.endswith(orig[-100_000:])  # decryption came back for the rest of the upload
    assert sess.records_up == full.records_up - 10 + 1 or sess.records_up <= full.records_up


def test_capture_starting_mid_stream(caps):
    stream, keys, orig, full = caps["tls13"]
    recs = records(stream.calls, 0)
    start = recs[len(recs) // 2][0]
    calls = cut(stream.calls, 0, 0, start)
    calls = [c for c in calls if not (c[0] == "gap")]
    # the server side too: start at its last record
    srecs = records(stream.calls, 1)
    calls = [c for c in cut(calls, 1, 0, srecs[-1][0]) if c[0] != "gap"]
    sess, inner, _ = H.replay(stream, keys, calls)
    assert sess.version is None and not sess.decrypted and inner is None
    assert sess.why_not.startswith("handshake not captured")
    assert 0 < sess.bytes_up < full.bytes_up and sess.records_up > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 20000), max_size=6), flips=st.lists(st.integers(0, 20000), max_size=4))
def test_fuzzed_handshake_never_raises(caps, cuts, flips):
    """Handshake bytes chopped at random places and with random flipped bytes."""
    stream, keys, _, _ = caps["tls12-gcm"]
    calls = stream.calls[:12] + [stream.calls[-1]]
    for f in flips:
        calls = flip(calls, f % 2, f)
    out = []
    for c in calls:
        if c[0] == "data" and cuts:
            p = cuts.pop() % (len(c[2]) + 1)
            out += [("data", c[1], c[2][:p], c[3], c[4]), ("data", c[1], c[2][p:], c[3], c[4])]
        else:
            out.append(c)
    sess, inner, _ = H.replay(stream, keys, out)
    assert not any(a.startswith("internal error") for a in sess.anomalies), sess.anomalies


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=300)), max_size=20),
       head=st.sampled_from([b"", b"\x16\x03\x01", b"\x16\x03\x03\x00\x30\x01", b"\x17\x03\x03\x40\x00"]))
def test_random_bytes_never_raise(chunks, head):
    dec = TlsDecoder(1, "a:1", "b:2", keys=KeyLog(), inner=H.FakeInner)
    dec.feed(0, head, 0.0, 1)
    for i, (d, b) in enumerate(chunks):
        dec.feed(d, memoryview(b), float(i), i + 2)
        if i % 7 == 3:
            dec.gap(d, len(b) + 1, float(i), i + 2)
    ev = dec.close(99.0, 999, "fin")
    sess = [e for e in ev if isinstance(e, TlsSession)]
    fed = bool(head) or any(b for _, b in chunks)
    assert len(sess) == fed  # a connection that carried nothing is not reported
    assert not any(a.startswith("internal error") for s in sess for a in s.anomalies)


def test_keylog_text_and_secrets_handed_in_later():
    k = KeyLog()
    k.load_text(b"# comment\n\nCLIENT_RANDOM " + b"aa" * 32 + b" " + b"bb" * 48 + b"\nnot a line\nX zz 00\n")
    assert k.bad_lines == 2 and len(k) == 1
    assert k.get("CLIENT_RANDOM", bytes.fromhex("aa" * 32)) == bytes.fromhex("bb" * 48)
    assert k.get("SERVER_TRAFFIC_SECRET_0", b"\x01" * 32) is None
    # a pcapng decryption-secrets block met later in the pass: the pipeline hands it in
    k.load_text(b"SERVER_TRAFFIC_SECRET_0 " + b"01" * 32 + b" " + b"02" * 48 + b"\n")
    assert k.get("SERVER_TRAFFIC_SECRET_0", b"\x01" * 32) == b"\x02" * 48
