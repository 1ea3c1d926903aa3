"""SQL fingerprints and the per-fingerprint digest, checked against pt-query-digest's report."""

from __future__ import annotations

import pytest

from glancetrace import pipeline
from glancetrace.analysis.sql_digest import digest, fingerprint
from glancetrace.protocols.mysql import SqlStatement


@pytest.mark.parametrize("a, b", [
    ("SELECT * FROM t WHERE id IN (1, 2, 3)", "select *  from t where id in (7)"),
    ("INSERT INTO t VALUES (1, 'a'), (2, 'b')", "insert into t values (3, 'c')"),
    ("SELECT a FROM t WHERE s = 'it''s' -- comment", "SELECT a FROM t WHERE s = \"x\""),
    ("UPDATE t SET x = -1.5e3, d = DATE'2024-01-01' WHERE k IS NULL", "update t set x = 2, d = '2023-01-01' where k is null"),
    ("SELECT id FROM images WHERE id = 0xABCD;", "select id from images where id = 12"),
])
def test_same_fingerprint(a, b):
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize("a, b", [
    ("SELECT a FROM t1", "SELECT a FROM t2"),
    ("SELECT a1 FROM t", "SELECT a2 FROM t"),
    ("SELECT `col1` FROM t", "SELECT `col2` FROM t"),
])
def test_different_fingerprint(a, b):
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_shape():
    assert fingerprint("SELECT  *\n FROM t WHERE id IN (1,2,3) AND n='x'") == "select * from t where id in(?+) and n=?"


def _pt_counts(report):
    counts, count = {}, None
    for line in report.read_text().splitlines():
        if line.startswith("# Count "):
            count = int(line.split()[-1])
        elif line.endswith("\\G") and not line.startswith("#") and count is not None:
            counts[line[:-2].replace('"', "'")] = count
            count = None
    return counts


def test_digest_counts_match_pt_query_digest(thirdparty):
    pt = thirdparty / "percona-toolkit"
    res = pipeline.decode(str(pt / "pcap" / "tcpdump033.pcap"), mysql_ports={12345}, want_http=False,
                          sniff_other_ports=False)
    stmts = res.of_type(SqlStatement)
    for s in stmts:  # pt-query-digest quotes strings with ", we with '
        s.sql = s.sql.replace('"', "'") if s.sql else s.sql
    df = digest(stmts)
    want = _pt_counts(pt / "pt-query-digest-expected" / "tcpdump033.txt")
    assert want
    for sample, count in want.items():
        assert df.loc[fingerprint(sample), "count"] == count, sample
    assert df["count"].sum() == len(stmts)
    assert (df["p95_latency"].dropna() <= df["max_latency"].dropna()).all()
    top = df.iloc[0]
    assert top["total_latency"] == df["total_latency"].max()


def test_digest_errors_and_latency(thirdparty):
    res = pipeline.decode(str(thirdparty / "percona-toolkit" / "pcap" / "tcpdump040.pcap"),
                          want_http=False, sniff_other_ports=False)
    stmts = res.of_type(SqlStatement)
    df = digest(stmts)
    assert df["errors"].sum() == sum(s.result == "error" for s in stmts) == 2
    row = df.loc[fingerprint("set global nono = 2")]
    assert row["count"] == 1 and row["total_latency"] == pytest.approx(stmts[1].latency)


def test_empty_digest():
    df = digest([])
    assert df.empty and "count" in df.columns
