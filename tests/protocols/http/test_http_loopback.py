"""The HTTP decoder on real loopback traffic (waitress server, http.client / raw-socket clients),
with tshark as the oracle for what was on the wire."""

from __future__ import annotations

import gzip
import hashlib
import json

from glancetrace.pipeline import Options, decode
from glancetrace.protocols.http import HttpTransaction
from tests.support.loopback import tshark_fields


def run(cap) -> list[HttpTransaction]:
    res = decode(cap.path, Options(http_ports={cap.port}, want_mysql=False, sniff_other_ports=False))
    return sorted(res.of_type(HttpTransaction), key=lambda t: (t.request_frames or t.response_frames)[0])


def oracle(cap, fields, flt):
    return tshark_fields(cap.path, flt, fields, extra=["-d", f"tcp.port=={cap.port},http"])


def check_against_tshark(cap, txs, skip_status=()):
    """Method and URI of every request, and status of every response, equal tshark's."""
    reqs = oracle(cap, ["frame.number", "http.request.method", "http.request.uri"], "http.request")
    # tshark names a request by the frame that completes it; pipelined ones share a row
    theirs = [(int(f), m, u) for f, ms, us in reqs for m, u in zip(ms.split("|"), us.split("|"))]
    ours = [t for t in txs if t.method is not None]
    assert [(t.method, t.uri) for t in ours] == [(m, u) for _, m, u in theirs]
    for t, (f, _, _) in zip(ours, theirs):
        assert t.request_frames[0] <= f <= t.request_frames[1]
    resps = oracle(cap, ["http.request_in", "http.response.code"], "http.response")
    final = [(int(r[0]) if r[0] else None, int(c)) for r in resps for c in r[1].split("|") if c != "100"]
    unmatched = sorted(c for f, c in final if f is None)  # tshark does not pair pipelined responses
    for t in ours:
        if t.status is not None and t not in skip_status:
            hits = [c for f, c in final if f is not None and t.request_frames[0] <= f <= t.request_frames[1]]
            if t.status not in hits:
                unmatched.remove(t.status)
    answered = [t for t in txs if t.status is not None]
    # a response whose body was lost may or may not count for tshark
    assert len([t for t in answered if t not in skip_status]) <= len(final) <= len(answered)


def by_uri(txs, uri):
    return [t for t in txs if t.uri == uri]


def test_keepalive_exchanges(http_caps):
    cap = http_caps["keepalive"]
    txs = run(cap)
    check_against_tshark(cap, txs)
    assert all(not t.incomplete and not t.gap and not t.truncated and not t.notes for t in txs)
    # several requests on one keep-alive connection, in order, with first/last frames in order
    conn0 = [t for t in txs if t.conn_id == txs[0].conn_id]
    assert len(conn0) >= 3
    for a, b in zip(conn0, conn0[1:]):
        assert a.request_frames[1] <= a.response_frames[0] <= a.response_frames[1] < b.request_frames[0]
        assert a.request_first_time <= a.response_last_time <= b.request_first_time
    j = by_uri(txs, "/json")[0]
    assert j.response_body.json["images"][2]["name"] == "img2"
    (gz,) = by_uri(txs, "/gzjson")
    assert gz.response_body.content_encoding == "gzip"
    assert gz.response_body.size == int(gz.header("Content-Length", response=True))
    assert json.loads(gzip.decompress(gzip.compress(gz.response_body.text))) == gz.response_body.json
    assert len(gz.response_body.json["images"]) == 200
    head = [t for t in txs if t.method == "HEAD"][0]
    assert head.status == 200 and head.response_body.size == 0 and head.header("Content-Length", True) != "0"
    assert by_uri(txs, "/nocontent")[0].status == 204
    assert by_uri(txs, "/notmodified")[0].status == 304
    assert by_uri(txs, "/upload")[0].request_body.json == {"name": "x"}


def test_chunked_upload_and_chunked_response(http_caps):
    cap = http_caps["keepalive"]
    txs = run(cap)
    (up,) = by_uri(txs, "/chunked-upload")
    sent = cap.sent["chunked_upload"]
    assert up.request_body.chunked and up.request_body.size == len(sent) == cap.sent["chunked_upload_reply"]["size"]
    assert up.request_body.wire_size > up.request_body.size  # chunk framing counted on the wire only
    assert up.request_body.md5 == hashlib.md5(sent).hexdigest()
    assert up.request_body.sha512 == hashlib.sha512(sent).hexdigest()
    assert up.request_body.text is None  # octet-stream is hashed, never kept
    stream11, stream10 = by_uri(txs, "/stream")
    assert stream11.response_body.chunked and not stream10.response_body.chunked
    assert stream11.response_body.text == stream10.response_body.text


def test_expect_100_continue(http_caps):
    cap = http_caps["keepalive"]
    (t,) = by_uri(run(cap), "/expect")
    assert t.interim == [int(cap.sent["expect_interim"].split()[1])] == [100]
    assert t.status == 201 and t.request_body.size == len(cap.sent["expect"])
    assert t.request_body.sha256 == hashlib.sha256(cap.sent["expect"]).hexdigest()
    assert t.response_body.json == json.loads(cap.sent["expect_reply"].split(b"\r\n\r\n", 1)[1])


def test_pipelined_and_http10(http_caps):
    cap = http_caps["keepalive"]
    txs = run(cap)
    pipelined = [t for t in txs if t.conn_id == by_uri(txs, "/missing")[-1].conn_id]
    assert [(t.uri, t.status) for t in pipelined] == [("/json", 200), ("/missing", 404), ("/json", 200)]
    # the second and third requests left in the same segment as the first
    assert pipelined[0].request_frames == pipelined[2].request_frames
    http10 = [t for t in txs if t.version == "1.0"][0]
    body = cap.sent["http10"].split(b"\r\n\r\n", 1)[1]
    assert http10.header("Content-Length", True) is None and http10.response_body.text == body
    assert not http10.truncated  # the server's FIN ended it


def test_big_upload_digests(http_caps):
    cap = http_caps["big"]
    txs = run(cap)
    put, get = txs
    s = cap.sent
    assert put.method == "PUT" and put.status == 201 and not put.incomplete
    assert put.request_body.size == s["size"] == s["reply"]["size"]
    assert (put.request_body.md5, put.request_body.sha256, put.request_body.sha512) == (s["md5"], s["sha256"], s["sha512"])
    assert put.request_body.text is None and put.request_body.json is None
    assert get.uri == "/json" and get.status == 200


def test_reset_mid_body(http_caps):
    cap = http_caps["rst"]
    (t,) = run(cap)
    rst = oracle(cap, ["frame.number"], "tcp.flags.reset == 1")
    assert rst and t.request_frames[1] <= int(rst[0][0])
    assert t.method == "PUT" and t.status is None and t.truncated and t.incomplete
    assert 0 < t.request_body.size < int(t.header("Content-Length"))
    assert t.request_body.md5 is None


def test_lost_response_head(http_caps):
    """A frame of a response body is deleted: that pair is flagged, the later pairs do not drift."""
    cap = http_caps["lost_response"]
    txs = run(cap)
    full = run(http_caps["keepalive"])
    assert [(t.method, t.uri) for t in txs] == [(t.method, t.uri) for t in full]
    (hit,) = by_uri(txs, cap.sent["why"])
    assert hit.gap and hit.incomplete and hit.response_body.md5 is None and hit.response_body.json is None
    for t, f in zip(txs, full):
        if t is not hit:
            assert t.status == f.status and not t.gap
    check_against_tshark(cap, txs, skip_status=[hit])


def test_lost_request(http_caps):
    """A whole request frame is deleted: a placeholder takes its response, the rest still pair right."""
    cap = http_caps["lost_request"]
    txs = run(cap)
    full = run(http_caps["keepalive"])
    assert cap.sent["why"] not in [t.uri for t in txs]
    lost = [t for t in txs if t.method is None]
    assert len(lost) == 1 and lost[0].gap and lost[0].status == by_uri(full, cap.sent["why"])[0].status
    rest = [(t.uri, t.status) for t in txs if t.method is not None]
    assert rest == [(t.uri, t.status) for t in full if t.uri != cap.sent["why"]]


def test_hole_in_big_body(http_caps):
    """A segment missing inside a 200 MB Content-Length body: only counted, the next request decodes."""
    cap = http_caps["big_hole"]
    put, get = run(cap)
    assert put.gap and put.incomplete and put.status == 201
    assert put.request_body.size == cap.sent["size"]
    assert put.request_body.md5 is put.request_body.sha256 is put.request_body.sha512 is None
    assert get.uri == "/json" and get.status == 200 and not get.gap
