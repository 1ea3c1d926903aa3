"""Only committed changes are transitions (analysis/transactions.py), on the real plain_overcloud capture
edited with dpkt: the COMMIT after Glance's first INSERT turned into a no-op (the pool's ROLLBACK then
undoes it), and the INSERT's OK replaced by the server's RST (a killed connection: MariaDB sends no error)."""

from __future__ import annotations

import dpkt

from glancetrace.analysis.analyze import analyze
from glancetrace.pipeline import decode
from tests.support.rig import analysed, capture
from tests.tcp.test_tcp_reassembly import _frames, _write  # pcap records in and out with dpkt

COMMIT = b"\x07\x00\x00\x00\x03COMMIT"


def _first_insert(frames):
    """Index of the packet carrying Glance's first INSERT INTO images, and its TCP 4-tuple."""
    for i, (_, buf) in enumerate(frames):
        tcp = dpkt.ethernet.Ethernet(buf).data.data
        if tcp.dport == 3306 and b"INSERT INTO images " in tcp.data:
            return i, tcp
    raise AssertionError("no INSERT INTO images in the capture")


def _doc(path):
    return analyze(decode(str(path))).to_dict()


def test_a_rolled_back_insert_is_a_failed_attempt(tmp_path):
    lt, frames = _frames(capture("plain_overcloud"))
    i, ins = _first_insert(frames)
    out, changed = [], None
    for k, (ts, buf) in enumerate(frames):
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        if changed is None and k > i and tcp.sport == ins.sport and tcp.data == COMMIT:
            tcp.data = b"\x07\x00\x00\x00\x03DO 1  "  # same length: the server's OK still answers it
            tcp.sum = 0
            changed = k + 1
            buf = bytes(eth)
        out.append((ts, buf))
    assert changed
    _write(tmp_path / "rolled-back.pcap", lt, out)
    doc = _doc(tmp_path / "rolled-back.pcap")
    whole = analysed("plain_overcloud")
    first = whole["images"][0]
    im = next(m for m in doc["images"] if m["id"] == first["id"])
    queued = im["transitions"][0]
    assert queued["status"] == "queued" and queued["failed"] and queued["attempt"] == "rolled back"
    # the later, committed changes stand
    assert [t["status"] for t in im["transitions"] if not t["failed"]] == \
        [t["status"] for t in first["transitions"] if not t["failed"]][1:]
    f = next(f for f in doc["findings"] if f["code"] == "not-committed")
    assert f["image_id"] == im["id"] and "rolled back" in f["message"] and "INSERT" in f["message"]
    assert {x["image_id"] for x in doc["findings"] if x["code"] == "not-committed"} == {im["id"]}


def test_an_insert_whose_connection_the_server_reset_never_existed(tmp_path):
    lt, frames = _frames(capture("plain_overcloud"))
    i, ins = _first_insert(frames)
    flow = {(ins.sport, ins.dport), (ins.dport, ins.sport)}
    out, reset = [], None
    for k, (ts, buf) in enumerate(frames):
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        if k > i and (tcp.sport, tcp.dport) in flow:
            if reset is not None or tcp.sport != 3306:
                continue  # nothing more on the connection after the server's reset
            # the server's reply to the INSERT becomes a RST: the statement never answered
            eth.data.len -= len(tcp.data)
            tcp.data, tcp.flags, tcp.sum, eth.data.sum = b"", dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK, 0, 0
            reset = len(out) + 1
            buf = bytes(eth)
        out.append((ts, buf))
    _write(tmp_path / "reset.pcap", lt, out)
    doc = _doc(tmp_path / "reset.pcap")
    first = analysed("plain_overcloud")["images"][0]
    im = next(m for m in doc["images"] if m["id"] == first["id"])
    queued = im["transitions"][0]
    assert queued["failed"] and queued["attempt"] == "connection lost"
    f = next(f for f in doc["findings"] if f["code"] == "not-committed")
    assert "closed by the server before it answered" in f["message"] and f"frame {reset}" in f["message"]
    lost = next(f for f in doc["findings"] if f["code"] == "mysql-connection-lost")
    assert lost["sql_id"] == queued["sql_id"] and "RST at frame" in lost["message"]
    assert lost["call_id"] == queued["call_id"] and lost["call_id"] is not None


def test_clean_captures_commit_everything_and_have_no_cause_findings():
    for scenario in ("plain_overcloud", "concurrent", "tls_overcloud"):
        doc = analysed(scenario)
        assert not [t for im in doc["images"] for t in im["transitions"] if t["attempt"]], scenario
        assert not {f["code"] for f in doc["findings"]} & {
            "not-committed", "mysql-connection-lost", "receiver-stalled", "proxy-answered", "image-too-large",
            "store-full", "storage-quota-exceeded", "quota-exceeded", "active-empty"}, scenario
