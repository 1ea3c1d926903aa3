"""Bad captures end to end, through the command a support engineer runs.

Each is made in the test from a real rig capture (editcap, dpkt or byte surgery): what was readable is
reported, what was lost is reported as lost, the exit status is 0 and there is never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import dpkt
import pytest

from tests.support.loopback import need
from tests.support.rig import analysed, capture

FAILURES = capture("failures")
UPLOAD = "6cab159b-a3fb-49ac-9c94-3e0e529bf89c"  # 'to-be-deleted': its upload body is in frames 19359-19417


def report_json(path, *extra):
    p = subprocess.run([sys.executable, "-m", "glancetrace", "report", str(path), "--format", "json", *extra],
                       capture_output=True, text=True)
    assert "Traceback" not in p.stderr
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout), p.stderr


def editcap(*args):
    need("editcap")
    subprocess.run(["editcap", *map(str, args)], check=True, capture_output=True)


def rewrite(src, dst, transform):
    """Copy a pcap record by record through transform(index, ts, bytes) -> list of (ts, bytes)."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        r = dpkt.pcap.Reader(f)
        w = dpkt.pcap.Writer(g, linktype=r.datalink(), snaplen=r.snaplen)
        for i, (ts, buf) in enumerate(r):
            for ts2, buf2 in transform(i + 1, ts, buf):
                w.writepkt(buf2, ts2)


def test_lost_segment_inside_an_upload(tmp_path):
    out = tmp_path / "lost.pcap"
    editcap(FAILURES, out, 19361)  # one 16 KiB segment of the upload body
    doc, _ = report_json(out)
    whole = analysed("failures")
    assert doc["summary"]["gaps"]["bytes"] >= 16384
    upload = next(c for c in doc["calls"] if c["kind"] == "upload" and c["image_id"] == UPLOAD)
    assert upload["gap"] and upload["request_digests"] is None  # no digest claimed over missing bytes
    assert any(f["code"] == "capture-gap" and f["call_id"] == upload["id"] for f in doc["findings"])
    # everything after the hole still decodes
    assert len(doc["calls"]) == len(whole["calls"])
    assert [i["final_status"] for i in doc["images"]] == [i["final_status"] for i in whole["images"]]


def test_snaplen_cut_capture(tmp_path):
    """tcpdump -s 96: headers survive, payloads do not; every missing byte is a gap, nothing is invented."""
    out = tmp_path / "snap96.pcap"
    editcap("-s", 96, FAILURES, out)
    doc, _ = report_json(out)
    assert doc["summary"]["packets"] == analysed("failures")["summary"]["packets"]
    assert doc["summary"]["gaps"]["bytes"] > 1_000_000
    for c in doc["calls"]:
        if c["request_body_size"] > 1000:
            assert c["gap"] or c["incomplete"]


def test_duplicated_segments_change_nothing(tmp_path):
    out = tmp_path / "dup.pcap"
    rewrite(FAILURES, out, lambda i, ts, buf: [(ts, buf), (ts, buf)] if i % 7 == 0 else [(ts, buf)])
    doc, _ = report_json(out)
    whole = analysed("failures")
    assert doc["summary"]["gaps"]["count"] == 0
    assert [(i["id"], i["final_status"], [t["status"] for t in i["transitions"]]) for i in doc["images"]] == \
        [(i["id"], i["final_status"], [t["status"] for t in i["transitions"]]) for i in whole["images"]]
    assert len(doc["sql"]) == len(whole["sql"])


def test_capture_started_mid_connection(tmp_path):
    """The first 20,000 frames are missing: pooled MySQL connections and keep-alive HTTP start mid-way."""
    out = tmp_path / "late.pcap"
    editcap("-r", FAILURES, out, "20000-999999")
    doc, _ = report_json(out)
    assert any(s["inferred"] for s in doc["sql"]), "statements decoded without their handshake say so"
    names = {i["name"] for i in doc["images"]}
    assert {"deactivate-reactivate", "protected-image"} <= names


def test_truncated_file(tmp_path):
    out = tmp_path / "cut.pcap"
    data = FAILURES and open(FAILURES, "rb").read()
    out.write_bytes(data[: len(data) // 2 + 13])  # mid-record
    doc, err = report_json(out)
    assert "mid-record" in err or any("mid-record" in w for w in doc["summary"]["warnings"])
    assert doc["captures"][0]["truncated"]
    assert doc["images"], "what came before the cut is analysed"


def _first_query_frame(pcap):
    with open(pcap, "rb") as f:
        for i, (_ts, buf) in enumerate(dpkt.pcap.Reader(f)):
            tcp = dpkt.ethernet.Ethernet(buf).data.data
            if tcp.dport == 3306 and len(tcp.data) > 5 and tcp.data[4] == 3:  # COM_QUERY
                return i + 1
    return None


def test_mysql_length_field_pointing_past_the_stream(tmp_path):
    frame = _first_query_frame(FAILURES)

    def corrupt(i, ts, buf):
        if i != frame:
            return [(ts, buf)]
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        tcp.data = b"\xff\xff\xfe" + tcp.data[3:]  # 16 MB announced, a few bytes present
        return [(ts, bytes(eth))]

    out = tmp_path / "mysql-len.pcap"
    rewrite(FAILURES, out, corrupt)
    doc, _ = report_json(out)
    whole = analysed("failures")
    # the damaged connection loses statements, which are reported as incomplete, not invented
    assert len(doc["sql"]) <= len(whole["sql"])
    assert [i["id"] for i in doc["images"]] == [i["id"] for i in whole["images"]]


def test_malformed_chunk_size(tmp_path):
    """The glance CLI's chunked upload with its first chunk-size line garbled."""
    need("tshark")
    rows = subprocess.run(["tshark", "-r", FAILURES, "-Y", "http.transfer_encoding == \"chunked\" && "
                           "http.request", "-T", "fields", "-e", "frame.number"],
                          capture_output=True, text=True).stdout.split()
    assert rows
    target = {}

    def corrupt(i, ts, buf):
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        body = bytes(tcp.data)
        if tcp.dport != 9292 or not body or "frame" in target:
            return [(ts, buf)]
        k = body.find(b"\r\n\r\n")
        if b"Transfer-Encoding: chunked" in body and k > 0:
            if len(body) > k + 8:  # the first chunk-size line is in this segment
                tcp.data = body[:k + 4] + b"zz" + body[k + 6:]
                target["frame"] = i
            else:
                target["sport"] = tcp.sport
            target["head"] = i
            return [(ts, bytes(eth))]
        if target.get("sport") == tcp.sport:  # the segment that starts the body
            tcp.data = b"zz" + body[2:]  # not hex
            target["frame"] = i
            return [(ts, bytes(eth))]
        return [(ts, buf)]

    out = tmp_path / "chunk.pcap"
    rewrite(FAILURES, out, corrupt)
    doc, _ = report_json(out)
    if "frame" not in target:
        pytest.skip("the chunk size starts in a segment of its own in this capture")
    damaged = [c for c in doc["calls"] if c["frames"]["request"] and c["frames"]["request"][0] == target["head"]]
    assert damaged and all(c["incomplete"] for c in damaged)
    assert any("chunk size" in n for c in damaged for n in c["notes"]), "the anomaly is reported, not dropped"
