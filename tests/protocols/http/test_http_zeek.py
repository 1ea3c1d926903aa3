"""The HTTP decoder on Zeek's test traces, checked against Zeek's own baselines (parsed, not copied)."""

from __future__ import annotations

import re

import pytest

from glancetrace.pipeline import decode
from glancetrace.protocols.http import HttpTransaction
from tests.support.loopback import tshark_fields


def zeek_log(path) -> list[dict[str, str]]:
    """Rows of a Zeek ASCII log (#fields header, tab-separated)."""
    fields, rows = None, []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def txs(path) -> list[HttpTransaction]:
    return decode(str(path), want_mysql=False).of_type(HttpTransaction)


def base(thirdparty, test):
    return thirdparty / "zeek" / "baselines" / f"scripts.base.protocols.http.{test}"


def _body_len(b):
    """What Zeek calls body length: the body after content-coding is undone."""
    return len(b.text) if b.text is not None and b.content_encoding else b.size


@pytest.mark.parametrize("trace,test", [
    ("100-continue.pcap", "100-continue"),
    ("pipelined-requests.pcap", "http-pipelining"),
    ("x-gzip.pcap", "x-gzip"),
    ("missing-zlib-header.pcap", "missing-zlib-header"),
])
def test_http_log_matches_zeek(thirdparty, trace, test):
    expected = zeek_log(base(thirdparty, test) / "http.log")
    got = txs(thirdparty / "zeek" / "traces" / "http" / trace)
    assert len(got) == len(expected)
    for tx, row in zip(got, expected):
        assert tx.method == row["method"]
        assert tx.uri == row["uri"]
        assert tx.header("Host") == row["host"]
        assert tx.version == row["version"]
        assert tx.status == int(row["status_code"])
        assert tx.reason == row["status_msg"]
        assert tx.interim == ([int(row["info_code"])] if row["info_code"] != "-" else [])
        assert tx.request_body.size == int(row["request_body_len"])
        assert _body_len(tx.response_body) == int(row["response_body_len"])
        assert not tx.incomplete and not tx.gap and not tx.notes
        if tx.response_body.content_encoding:  # x-gzip, deflate without zlib header: decoded
            assert tx.response_body.text and not tx.response_body.capped


def test_entity_gap(thirdparty):
    """A segment missing inside a Content-Length body: counted, body flagged, digests dropped."""
    b = base(thirdparty, "entity-gap")
    gaps = [int(n) for n in re.findall(r"<(\d+) byte gap>", (b / "entity_data").read_text())]
    extracted = (b / "extract_files.file0").read_bytes().split(b"\n", 1)[1]  # drop the btest header line
    (tx,) = txs(thirdparty / "zeek" / "traces" / "http" / "entity_gap.pcap")
    assert tx.status == 200 and tx.gap and tx.incomplete
    assert tx.response_body.size == len(extracted)
    assert tx.response_body.md5 is None and tx.response_body.sha512 is None
    assert [int(re.match(r"\d+", n)[0]) for n in tx.notes if "not captured" in n] == gaps


def test_dropped_response_pairing_does_not_drift(thirdparty):
    """1000 keep-alive GETs, the first response's head lost: every later pair must match
    tshark's request/response matching (http.request_in)."""
    path = thirdparty / "zeek" / "traces" / "http" / "1000-requests-one-dropped-response.pcap.gz"
    out = (base(thirdparty, "http-pending-state-growth") / "out").read_text()
    n_log = int(re.search(r"total http.log lines\s+(\d+)", out)[1])
    got = txs(path)
    assert len(got) == n_log
    pairs = tshark_fields(path, "http.response", ["http.request_in", "http.response.code"])
    by_request = {int(r[0]): int(r[1]) for r in pairs}
    answered = [t for t in got if t.status is not None]
    assert len(answered) == len(by_request)
    for t in answered:
        assert by_request[t.request_frames[0]] == t.status
        assert t.response_frames[0] > t.request_frames[0]
    lost = [t for t in got if t.status is None]
    assert len(lost) == 1 and lost[0].gap and lost[0].request_frames[0] not in by_request


def test_missing_syn(thirdparty):
    """Capture starting after the handshake: still decoded; byte counts equal Zeek's conn.log."""
    (row,) = zeek_log(thirdparty / "zeek" / "baselines" / "core.tcp.missing-syn" / "conn.log")
    path = thirdparty / "zeek" / "traces" / "tcp" / "missing-syn.pcap"
    res = decode(str(path), want_mysql=False)
    (tx,) = res.of_type(HttpTransaction)
    req = tshark_fields(path, "http.request", ["http.request.method", "http.request.uri"])
    assert [tx.method, tx.uri] == req[0]
    assert tx.status == int(tshark_fields(path, "http.response", ["http.response.code"])[0][0])
    conn = res.connections[0]
    assert not conn.dirs[0].syn and conn.dirs[1].syn  # only the SYN-ACK was captured
    assert conn.client == f"{row['id.orig_h']}:{row['id.orig_p']}"
    assert conn.dirs[0].delivered == int(row["orig_bytes"])
    assert conn.dirs[1].delivered == int(row["resp_bytes"])
    assert conn.dirs[0].gap_bytes + conn.dirs[1].gap_bytes == int(row["missed_bytes"])
