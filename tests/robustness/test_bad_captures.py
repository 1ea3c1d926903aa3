"""Bad captures end to end: the real CLI and the Python API on damaged copies of real traffic.

The rule under test: nothing useful read → exit 2 with a short message; something useful read →
exit 0, warnings on stderr, and every damage visible in what is reported (a warning, a skip
reason, a gap, an incomplete/truncated flag, a note, a finding) — never a traceback, never a silent
loss — while what was readable still gives the images' lifecycles.  Every damaged capture is made
by tests/robustness/corpus.py.  Reader-level details (frame numbers, tshark agreement) are in
tests/capture; here it is what a user sees.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.errors import UnusableInput
from glancetrace.pipeline import decode
from glancetrace.protocols.http.events import HttpTransaction
from glancetrace.protocols.mysql.events import SqlStatement
from glancetrace.protocols.tls.events import TlsSession
from tests.robustness import corpus

COMMANDS = ["report", "http", "sql", "images", "split"]


@pytest.fixture(scope="session")
def slices(tmp_path_factory):
    """Real captures to damage: {name: path} (see corpus.SLICES)."""
    tmp = tmp_path_factory.mktemp("slices")
    return {name: corpus.make_slice(name, tmp) for name in corpus.SLICES}


# -- running it ---------------------------------------------------------------------------

@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [x for x in self.err.splitlines() if x.strip()]


def glancetrace(*args) -> Run:
    """The real command line, as a user runs it (no debug tracebacks)."""
    env = {k: v for k, v in os.environ.items() if k != "GLANCETRACE_DEBUG"}
    p = subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True,
                       timeout=300, env=env)
    # whatever the input, never a traceback and never an internal error
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr[-2000:]
    return Run(p.returncode, p.stdout, p.stderr)


def as_json(command: str, path, *extra) -> tuple[Run, list | dict]:
    """A command's JSON on a capture with something useful in it, which always exits 0
    (`report` gives the analysis document: images, calls, sql, findings, summary)."""
    run = glancetrace(command, path, "--format", "json", *extra)
    assert run.rc == 0, run.err
    return run, json.loads(run.out)


def argv(command: str, path, tmp) -> list:
    if command == "split":
        return ["split", path, tmp / "piece.pcap", "-c", "1000"]
    if command == "report":
        return ["report", path, "-o", tmp / "out.html"]
    return [command, path, "--format", "json"]


# -- what the undamaged slice gives, to compare with ---------------------------------------

@functools.lru_cache(maxsize=None)
def baseline(path: str):
    return decode(path)


@functools.lru_cache(maxsize=None)
def baseline_doc(path: str) -> dict:
    """The analysis document `report --format json` writes for the undamaged slice."""
    return analyze(decode(path)).to_dict()


def counts_add_up(res) -> None:
    """The accounting identities (as tests/test_accounting.py) on a damaged capture too."""
    assert res.packets == res.tcp_segments + sum(res.skipped.values())
    for conn in res.connections:
        for ds in conn.dirs:
            assert ds.delivered + ds.gap_bytes == ds.offset


def http_facts(res) -> list:
    return [(t.method, t.uri, t.status, t.request_body.size, t.request_body.md5, t.response_body.size)
            for t in res.of_type(HttpTransaction)]


def sql_facts(res) -> list:
    return [(s.command, s.sql, s.result, s.rows) for s in res.of_type(SqlStatement)]


def lifecycles(doc: dict) -> list:
    return [(i["id"], i["final_status"], [t["status"] for t in i["transitions"]]) for i in doc["images"]]


# -- nothing useful: exit 2, a short message ----------------------------------------------

@pytest.mark.parametrize("kind", corpus.UNUSABLE)
def test_nothing_readable_exits_2_with_a_short_message(slices, tmp_path, kind):
    path = corpus.unusable(slices["upload"], tmp_path / "bad.pcap", kind)
    # one decoding command per kind (every command meets every kind in the test below)
    command = COMMANDS[list(corpus.UNUSABLE).index(kind) % 4]
    run = glancetrace(*argv(command, path, tmp_path))
    assert run.rc == 2, run.err
    assert 1 <= len(run.err_lines) <= 3 and run.err_lines[0].startswith("glancetrace: ")
    assert path in run.err and not run.out
    # the API says the same, as an exception to catch (or, for zero packets, an empty result)
    if kind == "zero packets":
        res = decode(path)
        assert res.packets == 0 and not res.events and not res.warnings
    else:
        with pytest.raises(UnusableInput):
            decode(path)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_text_file_the_same_way(slices, tmp_path, command):
    path = corpus.unusable(slices["upload"], tmp_path / "notes.pcap", "text file")
    run = glancetrace(*argv(command, path, tmp_path))
    magic = open(path, "rb").read(4).hex()
    assert run.rc == 2 and run.err_lines == [f"glancetrace: {path}: not a pcap or pcapng capture (unknown magic {magic})"]


def test_split_of_zero_packets_exits_2(slices, tmp_path):
    """Unlike editcap (one empty piece, status 0): nothing could be read, so nothing is written."""
    path = corpus.unusable(slices["upload"], tmp_path / "zero.pcap", "zero packets")
    run = glancetrace(*argv("split", path, tmp_path))
    assert run.rc == 2 and run.err_lines == [f"glancetrace: {path}: no packets could be read; nothing written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zero.pcap"]


# -- damaged files: what was read before the damage is used, and the damage is told -------

def test_capture_ending_inside_a_record(slices, tmp_path):
    # tcpdump killed while the image's data was being uploaded
    path = corpus.ends_inside_record(slices["upload"], tmp_path / "cut.pcap", 3500)
    run, rows = as_json("http", path)
    assert any(x.startswith("warning:") and "ends mid-record after frame 3500" in x for x in run.err_lines)
    res = decode(path)
    assert res.packets == 3500 and res.captures[0].truncated
    assert len(rows) == len(res.of_type(HttpTransaction)) > 0
    counts_add_up(res)
    # connections open at the cut are flushed as such: requests without their response say so
    open_at_cut = [t for t in res.of_type(HttpTransaction) if t.status is None]
    assert open_at_cut and all(t.incomplete and any("no response" in n for n in t.notes) for t in open_at_cut)
    # the report analyses what came before the cut: the image as it stood then
    _, doc = as_json("report", path)
    assert doc["captures"][0]["truncated"] and any("mid-record" in w for w in doc["summary"]["warnings"])
    whole = baseline_doc(slices["upload"])
    assert [(i["id"], i["final_status"]) for i in doc["images"]] == [(whole["images"][0]["id"], "saving")]


def test_record_longer_than_the_file(slices, tmp_path):
    path = corpus.record_claims(slices["upload"], tmp_path / "long.pcap", 3001, 50_000_000)
    run, rows = as_json("sql", path)
    assert any("claims 50000000 bytes" in x for x in run.err_lines)
    res = decode(path)
    assert res.packets == 3000 and res.captures[0].truncated
    assert len(rows) == len(res.of_type(SqlStatement)) > 0
    # what came before the damage decodes as in the whole file
    assert sql_facts(res)[:100] == sql_facts(baseline(slices["upload"]))[:100]


def test_gzip_cut_off(slices, tmp_path):
    path = corpus.gzip_cut(slices["upload"], tmp_path / "cut.pcap.gz")
    run, _ = as_json("http", path)
    assert any((x.startswith("warning:") and "gzip" in x) or "mid-record" in x for x in run.err_lines)
    res = decode(path)
    assert res.captures[0].truncated and 0 < res.packets < 3610
    counts_add_up(res)


# -- snaplen-cut packets ------------------------------------------------------------------

def test_snaplen_96_is_decoded_with_every_message_marked(slices, tmp_path):
    path = corpus.snaplen(slices["upload"], tmp_path / "snap96.pcap", 96)
    run, doc = as_json("report", path)
    res = decode(path)
    counts_add_up(res)
    whole = baseline(slices["upload"])
    assert doc["summary"]["packets"] == whole.packets  # headers survive: no packet is dropped
    lost = sum(ds.gap_bytes for c in res.connections for ds in c.dirs)
    assert doc["summary"]["gaps"]["bytes"] == lost > 1_000_000  # the 600 KB upload and the SQL results
    assert "lost" in run.err  # the summary paragraph says the capture lost bytes
    # every statement is still there (its text cut at the snaplen), flagged
    stmts = res.of_type(SqlStatement)
    assert len(stmts) == len(whole.of_type(SqlStatement))
    flagged = 0
    for cut, full in zip(stmts, whole.of_type(SqlStatement)):
        assert cut.command == full.command
        assert cut.sql is None or full.sql is None or full.sql.startswith(cut.sql[:20])
        # short statements fit in 96 bytes and are whole; any other is flagged, never passed off as whole
        if cut.gap or cut.incomplete:
            flagged += 1
        else:
            assert (cut.sql, cut.result, cut.rows) == (full.sql, full.result, full.rows)
    assert flagged > len(stmts) // 3
    # HTTP: no transaction passes for whole; the upload's digest is not claimed
    txs = res.of_type(HttpTransaction)
    assert txs and all(t.gap or t.incomplete for t in txs)
    assert not any(t.request_body.md5 for t in txs if t.method == "PUT")
    assert all(c["gap"] or c["incomplete"] for c in doc["calls"])


# -- other framings of the same packets: same results ------------------------------------

@pytest.mark.parametrize("kind", corpus.REFRAMED)
def test_other_framings_give_the_same_results(slices, tmp_path, kind):
    src = slices["upload"]
    res = decode(corpus.REFRAMED[kind](src, tmp_path / f"{kind}.cap"))
    whole = baseline(src)
    counts_add_up(res)
    assert http_facts(res) == http_facts(whole) and sql_facts(res) == sql_facts(whole)
    assert not res.warnings
    if kind == "fragments":
        assert res.packets > whole.packets and res.skipped  # held fragments are counted, by reason
        assert set(res.skipped) == {"IP fragment (held for reassembly)"}
    if kind == "ipv6":
        assert all(c.client.startswith("[::ffff:") for c in res.connections)


def test_sll2_through_the_cli(slices, tmp_path):
    path = corpus.to_link(slices["upload"], tmp_path / "sll2.pcap", "sll2")
    run, rows = as_json("http", path)
    assert not run.err_lines
    assert len(rows) == len(baseline(slices["upload"]).of_type(HttpTransaction))


# -- TCP damage ---------------------------------------------------------------------------

def test_capture_starting_mid_upload(slices, tmp_path):
    # keep-alive HTTP and pooled MySQL connections all start mid-way
    _put, body = corpus.upload_frames(corpus.Pcap.read(slices["upload"]))
    start = body[5] + 1
    path = corpus.starting_at(slices["upload"], tmp_path / "mid.pcap", start)
    _, rows = as_json("http", path)
    res = decode(path)
    counts_add_up(res)
    assert any(c.midstream for c in res.connections)
    # the upload's response is reported, without a request, as incomplete and saying why
    put_answer = [t for t in res.of_type(HttpTransaction) if t.status == 204]
    assert len(put_answer) == 1 and put_answer[0].method is None and put_answer[0].incomplete
    assert "response without a request in the capture" in put_answer[0].notes
    assert any(r["status"] == 204 and r["incomplete"] for r in rows)
    _, doc = as_json("report", path)
    assert any(s["inferred"] for s in doc["sql"]), "statements decoded without their handshake say so"
    # the image's lifecycle from the cut on is still found
    whole = baseline_doc(slices["upload"])["images"][0]
    after = [t["status"] for t in whole["transitions"] if t["frames"][0] >= start]
    assert after and lifecycles(doc) == [(whole["id"], whole["final_status"], after)]


def test_lost_segments_in_an_upload(slices, tmp_path):
    cap = corpus.Pcap.read(slices["upload"])
    _put, body = corpus.upload_frames(cap)
    lost = [body[3], body[4]]
    nbytes = sum(len(corpus.payload(cap.records[i][1])) for i in lost)
    path = corpus.without_frames(slices["upload"], tmp_path / "lost.pcap", [i + 1 for i in lost])
    _, doc = as_json("report", path)
    assert doc["summary"]["gaps"] == {"count": 1, "bytes": nbytes}
    res = decode(path)
    counts_add_up(res)
    put = next(t for t in res.of_type(HttpTransaction) if t.method == "PUT")
    whole_put = next(t for t in baseline(slices["upload"]).of_type(HttpTransaction) if t.method == "PUT")
    assert put.gap and put.incomplete and f"{nbytes} request body bytes not captured" in put.notes
    assert put.request_body.size == whole_put.request_body.size  # the length is known, the digest is not
    assert put.request_body.md5 is None and whole_put.request_body.md5
    whole = baseline_doc(slices["upload"])
    call = next(c for c in doc["calls"] if c["kind"] == "upload" and c["image_id"] == whole["images"][0]["id"])
    assert call["gap"] and call["incomplete"] and call["request_digests"] is None
    assert any(f["code"] == "capture-gap" and f["call_id"] == call["id"] for f in doc["findings"])
    # everything after the hole still decodes
    assert len(doc["calls"]) == len(whole["calls"]) and lifecycles(doc) == lifecycles(whole)


def test_duplicated_segments_change_nothing_but_are_counted(slices, tmp_path):
    path = corpus.duplicated(slices["upload"], tmp_path / "dup.pcap")
    res = decode(path)
    whole = baseline(slices["upload"])
    counts_add_up(res)
    assert res.packets == 2 * whole.packets
    assert http_facts(res) == http_facts(whole) and sql_facts(res) == sql_facts(whole)
    assert not any(ds.gap_bytes for c in res.connections for ds in c.dirs)
    # the duplicates are not dropped silently: the reassembler counts them as retransmitted
    dup_bytes = sum(ds.retransmitted for c in res.connections for ds in c.dirs)
    # (every byte once more; a segment the original already retransmitted is there twice more)
    assert dup_bytes == sum(ds.delivered + 2 * ds.retransmitted for c in whole.connections for ds in c.dirs)
    _, rows = as_json("sql", path)
    assert len(rows) == len(whole.of_type(SqlStatement))
    _, doc = as_json("report", path)
    whole_doc = baseline_doc(slices["upload"])
    assert doc["summary"]["gaps"]["count"] == 0 and len(doc["sql"]) == len(whole_doc["sql"])
    assert lifecycles(doc) == lifecycles(whole_doc)


def test_rst_in_the_middle_of_an_upload(slices, tmp_path):
    path = corpus.rst_mid_upload(slices["upload"], tmp_path / "rst.pcap")
    _, doc = as_json("report", path)
    res = decode(path)
    counts_add_up(res)
    put = next(t for t in res.of_type(HttpTransaction) if t.method == "PUT")
    assert put.truncated and put.incomplete and put.status is None
    assert "connection ended (rst) inside the request body" in put.notes
    assert put.request_body.md5 is None
    conn = next(c for c in res.connections if c.stream == put.conn_id)
    assert conn.rst and conn.closed == "rst"
    call = next(c for c in doc["calls"] if c["method"] == "PUT")
    assert call["truncated"] and call["status"] is None
    assert doc["findings"], "an upload reset half-way is a finding"


# -- protocol damage ----------------------------------------------------------------------

def test_mysql_length_field_past_the_end_of_the_stream(slices, tmp_path):
    path = corpus.mysql_length_past_stream(slices["upload"], tmp_path / "mylen.pcap")
    _, rows = as_json("sql", path)
    res = decode(path)
    stmts = res.of_type(SqlStatement)
    assert len(stmts) < len(baseline(slices["upload"]).of_type(SqlStatement))  # what the bogus length swallowed is gone …
    # … but not silently: the statement whose packet never completed is reported, with why
    cut = [s for s in stmts if any("unfinished client packet that claims 16777200 bytes" in n for n in s.notes)]
    assert len(cut) == 1 and cut[0].incomplete and cut[0].sql.startswith("SELECT")
    assert any(r["incomplete"] and any("16777200" in n for n in r["notes"]) for r in rows)
    # nothing is invented in the report, and the images do not depend on that connection
    _, doc = as_json("report", path)
    assert len(doc["sql"]) == len(stmts)
    assert [i["id"] for i in doc["images"]] == [i["id"] for i in baseline_doc(slices["upload"])["images"]]


def test_http_chunk_size_that_is_not_hex(slices, tmp_path):
    path, head = corpus.chunk_size_garbled(slices["chunked"], tmp_path / "chunk.pcap")
    _, rows = as_json("http", path)
    res = decode(path)
    counts_add_up(res)
    put = next(t for t in res.of_type(HttpTransaction) if t.method == "PUT")
    assert put.incomplete and any(n.startswith("bad chunk size") for n in put.notes)
    assert put.request_body.md5 is None and put.status == 204  # the answer is still paired
    # the next request on the connection is found again
    after = [f for f in http_facts(res) if f[0] != "PUT"]
    assert after == [f for f in http_facts(baseline(slices["chunked"])) if f[0] != "PUT"]
    row = next(r for r in rows if r["method"] == "PUT")
    assert row["incomplete"] and any("bad chunk size" in n for n in row["notes"])
    # the report's call is the damaged request (by its frame), with the anomaly in its notes
    _, doc = as_json("report", path)
    damaged = [c for c in doc["calls"] if c["frames"]["request"] and c["frames"]["request"][0] == head]
    assert damaged and all(c["incomplete"] for c in damaged)
    assert any("chunk size" in n for c in damaged for n in c["notes"])


def test_tls_record_with_a_bad_tag(slices, tmp_path):
    keylog = corpus.slice_keys("tls")
    path, frame = corpus.tls_bad_tag(slices["tls"], tmp_path / "tag.pcap")
    as_json("http", path, "--keylog", keylog)
    res = decode(path, keylog=[keylog])
    whole = decode(slices["tls"], keylog=[keylog])
    sess = [s for s in res.of_type(TlsSession) if s.auth_failures]
    assert len(sess) == 1 and sess[0].decrypted
    assert any(f"record at frame {frame} failed authentication" in a for a in sess[0].anomalies)
    # one request was lost with its record; the rest of the connection still decrypts
    same_conn = [t for t in res.of_type(HttpTransaction) if t.conn_id == sess[0].conn_id]
    before = [t for t in whole.of_type(HttpTransaction) if t.conn_id == sess[0].conn_id]
    assert len(same_conn) == len(before)
    assert [t.status for t in same_conn] == [t.status for t in before]
    damaged = [t for t in same_conn if t.method is None]
    assert len(damaged) == 1 and damaged[0].incomplete and damaged[0].notes
