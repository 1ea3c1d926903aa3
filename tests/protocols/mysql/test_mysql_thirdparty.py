"""The MySQL decoder on third-party captures, against their published expected decodes:
Zeek's mysql.log baselines, pt-query-digest reports (percona-toolkit) and tshark."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from glancetrace import pipeline
from glancetrace.analysis.sql_digest import fingerprint, statement_label
from glancetrace.protocols.mysql import MysqlHandshake, SqlStatement
from tests.support.loopback import tshark_fields

PORTS = {3306, 3307, 12345}

# Zeek trace → baseline directory (the pairing documented in thirdparty/SOURCES.md)
ZEEK = {
    "mysql.pcap": "wireshark",
    "auth.pcap": "auth",
    "caching_sha2_password.pcap": "caching_sha2_password",
    "caching_sha2_password-after-auth-switch.pcapng": "caching_sha2_password-after-auth-switch",
    "mysql8-navicat-login-failed.pcap": "caching_sha2_password-auth-switch-to-test-sha256_password",
    "change-user-success.pcap": "change-user-success",
    "change-user-error.pcap": "change-user-error",
    "encrypted.pcap": "encrypted",
    "plain-amazon-rds.pcap": "plain-aws-rds",
    "selects_with_new_proto.pcap": "selects_with_new_proto",
    "mysql-show-engine-innodb-status-no-password.pcap": "show-engine-innodb-status",
    "query-attr.pcap": "query-attr",
    "mysql-9.0.0-query-attributes.pcap": "query-attr-non-string",
    "many-query-attrs.pcap": "many-query-attr",
}


def _decode(path):
    return pipeline.decode(str(path), mysql_ports=PORTS, want_http=False, sniff_other_ports=False)


def _zeek_log(path) -> list[dict]:
    fields, rows = None, []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def _as_zeek(res) -> list[dict]:
    """Our events in Zeek's mysql.log terms (login, then one line per command)."""
    out = []
    for e in res.events:
        if isinstance(e, MysqlHandshake):
            if e.user is None:
                continue  # no handshake response: Zeek logs nothing
            ok = e.result == "ok"
            out.append(dict(cmd="login", arg=e.user, success="T" if ok else "F" if e.result == "error" else "-",
                            rows="0" if ok else "-", response=e.error_message if e.result == "error" else "-"))
        elif isinstance(e, SqlStatement):
            cmd = e.command.removeprefix("COM_").lower()
            arg = e.sql if e.sql not in (None, "") else "(empty)"
            success = {"ok": "T", "rows": "T", "error": "F"}.get(e.result, "-")
            rows = str(e.affected_rows or 0) if e.result == "ok" else "0" if e.result == "rows" else "-"
            out.append(dict(cmd=cmd, arg=arg, success=success, rows=rows,
                            response=e.error_message if e.result == "error" else "-"))
    return out


@pytest.mark.parametrize("trace", sorted(ZEEK))
def test_zeek_mysql_log(thirdparty, trace):
    base = thirdparty / "zeek" / "baselines" / f"scripts.base.protocols.mysql.{ZEEK[trace]}"
    want = _zeek_log(base / "mysql.log")
    got = _as_zeek(_decode(thirdparty / "zeek" / "traces" / "mysql" / trace))
    assert [(r["cmd"], r["arg"]) for r in got] == [(r["cmd"], r["arg"]) for r in want]
    for g, w in zip(got, want):
        if w["success"] != "-" and g["cmd"] not in ("statistics",):
            assert g["success"] == w["success"], w
        if w["success"] == "T":
            assert g["rows"] == w["rows"], w
        if w["response"] != "-":
            assert g["response"] == w["response"], w


def test_zeek_encrypted_is_reported_as_tls(thirdparty):
    for trace in ("encrypted.pcap", "tls-12-amazon-rds.pcap", "tls-13-amazon-rds.pcap"):
        res = _decode(thirdparty / "zeek" / "traces" / "mysql" / trace)
        hs = res.of_type(MysqlHandshake)
        assert hs and all(h.ssl for h in hs), trace
        assert not res.of_type(SqlStatement), trace


# -- percona-toolkit: pt-query-digest reports ------------------------------------------------

def _pt_blocks(path) -> list[dict]:
    """Each `# Query N` block of a pt-query-digest report: count, sample, errors, rows affected, exec time."""
    blocks, cur = [], None
    for line in path.read_text().splitlines():
        if line.startswith("# Query ") and ":" in line:
            cur = {"count": None, "sample": None, "errors": None, "affected": None, "exec": None}
            blocks.append(cur)
        elif cur is None:
            continue
        elif line.startswith("# Count "):
            cur["count"] = int(line.split()[-1])
        elif line.startswith("# Errors "):
            cur["errors"] = line.split()[2]
        elif line.startswith("# Rows affecte"):
            cur["affected"] = int(line.split()[4])
        elif line.startswith("# Exec time"):
            cur["exec"] = line.split()[4]
        elif line.endswith("\\G") and not line.startswith("#") and cur["sample"] is None:
            cur["sample"] = line[:-2]
    return blocks


def _pt_events(res) -> list[tuple[str, object]]:
    out = []
    for e in res.events:
        if isinstance(e, MysqlHandshake) and not e.inferred:
            out.append(("administrator command: Connect", e))
        elif isinstance(e, SqlStatement):
            out.append((statement_label(e), e))
    return out


def _norm(s: str) -> str:
    return s.replace('"', "'")


def _seconds(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)?", text)
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}[m.group(2)]


REPORTS = ["tcpdump001.txt", "tcpdump002_report.txt", "tcpdump003.txt", "tcpdump012.txt",
           "tcpdump017_report.txt", "tcpdump021.txt", "tcpdump022.txt", "tcpdump023.txt", "tcpdump024.txt",
           "tcpdump025.txt", "tcpdump033.txt", "tcpdump041.txt", "tcpdump043_report.txt",
           "tcpdump044_report.txt"]
# Not compared: tcpdump-1402776 (the pcap made from the text dump holds only its first 9 packets, the
# report covers all of it) and tcpdump017's count (pt-query-digest counts the 3 retransmitted copies of
# the query as queries; TCP reassembly rightly keeps one).
PACKET_COUNTED = {"tcpdump017_report.txt"}


@pytest.mark.parametrize("report", REPORTS)
def test_pt_query_digest_reports(thirdparty, report):
    pt = thirdparty / "percona-toolkit"
    name = re.sub(r"(_report)?\.txt$", "", report)
    events = _pt_events(_decode(pt / "pcap" / f"{name}.pcap"))
    blocks = _pt_blocks(pt / "pt-query-digest-expected" / report)
    assert blocks
    for b in blocks:
        same = [e for label, e in events if fingerprint(_norm(label)) == fingerprint(_norm(b["sample"]))]
        if report in PACKET_COUNTED:
            assert 1 <= len(same) <= b["count"], b
        else:
            assert len(same) == b["count"], b
        labels = {_norm(label) for label, _ in events}
        assert _norm(b["sample"]) in labels, b
        if b["errors"]:
            assert {str(e.error_code) for e in same} == {b["errors"]}, b
        stmts = [e for e in same if isinstance(e, SqlStatement)]
        if b["affected"] is not None and stmts:
            assert sum(e.affected_rows or 0 for e in stmts) == b["affected"], b
        if b["count"] == 1 and stmts and b["exec"] not in (None, "0") and stmts[0].latency is not None:
            want = _seconds(b["exec"])
            assert abs(stmts[0].latency - want) <= max(want * 0.05, 1e-6), b


PREPARED = [f"tcpdump0{n}.pcap" for n in (21, 22, 23, 24, 25, 28, 29, 30, 33, 34)]


@pytest.mark.parametrize("sample", PREPARED)
def test_percona_prepared_statements_midstream(thirdparty, sample):
    """Captures that start at COM_STMT_PREPARE: executes show the prepared text with the values in."""
    res = _decode(thirdparty / "percona-toolkit" / "pcap" / sample)
    stmts = res.of_type(SqlStatement)
    execs = [s for s in stmts if s.command == "COM_STMT_EXECUTE"]
    assert execs and all(s.inferred for s in stmts)
    prepared = {s.statement_id: s.sql for s in stmts if s.command == "COM_STMT_PREPARE"}
    for s in execs:
        assert s.result in ("ok", "rows") and s.params is not None
        assert s.sql.count("?") == prepared[s.statement_id].count("?") - len(s.params)


def test_percona_compressed(thirdparty):
    pt = thirdparty / "percona-toolkit" / "pcap"
    r13 = _decode(pt / "tcpdump013.pcap")
    assert any(h.compressed and not h.inferred for h in r13.of_type(MysqlHandshake))
    assert [s.sql for s in r13.of_type(SqlStatement)] == ["show databases"]
    r14 = _decode(pt / "tcpdump014.pcap")  # compression detected without the handshake
    assert any(h.compressed and h.inferred for h in r14.of_type(MysqlHandshake))
    assert [s.sql for s in r14.of_type(SqlStatement)] == ["show databases"]
    r15 = _decode(pt / "tcpdump015.pcap")  # a compressed result set over many segments
    sel = next(s for s in r15.of_type(SqlStatement) if s.sql == "select * from help_relation")
    assert sel.result == "rows" and sel.rows > 0 and sel.columns


def test_percona_gaps_and_truncated_requests(thirdparty):
    pt = thirdparty / "percona-toolkit" / "pcap"
    for sample in ("tcpdump031.pcap", "tcpdump032.pcap"):  # request cut by a gap, its OK still paired
        s = _decode(pt / sample).of_type(SqlStatement)[0]
        assert s.gap and s.result == "ok" and s.affected_rows == 1 and s.sql.startswith("UPDATE")
    s = _decode(pt / "tcpdump035.pcap").of_type(SqlStatement)  # missing segments before the query
    assert s[0].result == "rows" and s[0].rows == 1 and s[0].row_data == [["paris in the the spring"]]


# -- tshark as the oracle --------------------------------------------------------------------------

def _all_mysql_traces(thirdparty):
    z = sorted((thirdparty / "zeek" / "traces" / "mysql").glob("*.pcap*"))
    p = sorted((thirdparty / "percona-toolkit" / "pcap").glob("*.pcap"))
    return z + p


# tcpdump036: the 4-tuple is reused an hour after a one-sided FIN with the same ISN; like Wireshark (one
# tcp.stream) we take the second SYN for a retransmission, so the second connection's bytes are repeats
# and its query never reaches the decoder (tshark shows it because it dissects each packet on its own).
# With another ISN it is a new stream and decoded: tests/tcp/test_tcp_reassembly.py.
REASSEMBLY_DROPS = {"tcpdump036.pcap"}


def _tshark_escaped(sql: str) -> str:
    """tshark -T fields writes control characters as C escapes."""
    return sql.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def test_queries_match_tshark(thirdparty):
    from concurrent.futures import ThreadPoolExecutor

    paths = [p for p in _all_mysql_traces(thirdparty) if p.name not in REASSEMBLY_DROPS]
    extra = [a for port in (3307, 12345) for a in ("-d", f"tcp.port=={port},mysql")]
    with ThreadPoolExecutor(4) as pool:  # tshark start-up dominates: run them side by side
        oracle = list(pool.map(lambda p: tshark_fields(p, "mysql.query", ["tcp.stream", "mysql.command",
                                                                          "mysql.query"], extra=extra), paths))
    checked = 0
    for path, rows in zip(paths, oracle):
        res = _decode(path)
        want = Counter((int(s), q) for s, c, q in rows if c in ("3", "22") and q)
        got = Counter((s.conn_id, _tshark_escaped(s.sql)) for s in res.of_type(SqlStatement)
                      if s.command in ("COM_QUERY", "COM_STMT_PREPARE") and s.sql and not s.gap)
        # tshark cannot see queries cut by gaps; we must find every query it finds
        assert want - got == Counter(), path.name
        checked += sum(want.values())
    assert checked > 100
