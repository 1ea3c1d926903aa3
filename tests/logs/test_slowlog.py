"""MariaDB's slow query log and error log beside a capture of the same server, recorded here: a real mariadbd
with slow_query_log=1, long_query_time=0 and log_slow_verbosity, tcpdump on loopback, PyMySQL clients.

What the recording holds: connection A (greeted in the capture) runs DDL, an INSERT, a multi-line SLEEP(0.3)
query and the same SELECT twice in one second; a pooled connection opened before the capture runs one
distinctive query during it and one after it; A kills connection D; connection C vanishes without COM_QUIT."""

from __future__ import annotations

import json
import pathlib
import re
import socket
import subprocess
import sys
import time

import pytest

from glancetrace.logs.reader import LogScan, detect

SECRET = "slowlogsecret77"  # a password a statement inserts: the slow log holds it as the packets do

@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    import pymysql

    from tests.support.loopback import tcpdump
    from tests.support.mariadb import mariadb_server
    base = tmp_path_factory.mktemp("slowlog")
    slow = base / "slow.log"
    extra = ("--slow-query-log=1", f"--slow-query-log-file={slow}", "--long-query-time=0",
             "--log-slow-verbosity=query_plan,explain", "--log-warnings=4")
    with mariadb_server(base / "db", extra=extra) as db:
        pooled = pymysql.connect(**db.connect_args())
        with tcpdump(base / "c.pcap", f"tcp port {db.port}"):
            a = pymysql.connect(**db.connect_args())
            with a.cursor() as cur:
                cur.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(40))")
                cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
                cur.execute("SELECT SLEEP(0.3), name\nFROM t\nWHERE id = 1")
                cur.execute("SELECT name FROM t WHERE id = 1")
                cur.execute("SELECT name FROM t WHERE id = 2")
                cur.execute("CREATE TABLE users (name VARCHAR(20), password VARCHAR(40))")
                cur.execute(f"INSERT INTO users (name, password) VALUES ('u', '{SECRET}')")
            a.commit()
            with pooled.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM t WHERE name LIKE 'pooled%'")
            d = pymysql.connect(**db.connect_args())
            with a.cursor() as cur:
                cur.execute(f"KILL {d.thread_id()}")
            c = pymysql.connect(**db.connect_args())
            with c.cursor() as cur:
                cur.execute("SELECT 42")
            c._sock.shutdown(socket.SHUT_RDWR)  # gone without COM_QUIT: "Got an error reading communication packets"
            c._sock.close()
            time.sleep(0.5)
            a.close()
        time.sleep(1.2)
        with pooled.cursor() as cur:
            cur.execute("SELECT 'after the capture'")
        pooled.close()
        threads = {"a": a.thread_id(), "d": d.thread_id(), "c": c.thread_id(), "pooled": pooled.thread_id()}
        port = db.port
    return {"pcap": str(base / "c.pcap"), "slow": str(slow), "err": str(db.err), "port": port, "threads": threads}


def analysed(rec, logs: list[str]) -> dict:
    from glancetrace.analysis.analyze import AnalysisOptions
    from glancetrace.analysis.logjoin import LogSpec, analyse_with_logs
    from glancetrace.pipeline import decode
    res = decode(rec["pcap"], mysql_ports=[rec["port"]])
    return analyse_with_logs(res, AnalysisOptions(), [LogSpec(p) for p in logs]).to_dict()


def test_the_real_slow_log_is_recognised_and_read(rec):
    assert detect(rec["slow"]) == "slowlog"
    scan = LogScan(rec["slow"])
    recs = list(scan)
    assert scan.fmt == "slowlog" and scan.stats.garbled == 0 and scan.stats.records == len(recs)
    multi = next(r for r in recs if "SLEEP(0.3)" in r.text)
    assert multi.text == "SELECT SLEEP(0.3), name\nFROM t\nWHERE id = 1"  # the lines after SET timestamp, no ';'
    # (the server times SLEEP(0.3) on another clock than the query: under load it logs 0.2992 now and then)
    assert multi.query_time >= 0.29 and multi.rows_sent == 1 and multi.thread_id == rec["threads"]["a"]
    assert multi.user == "gt" and multi.host == "127.0.0.1" and multi.schema == "gt"
    assert abs(multi.time - time.time()) < 600 and multi.time == int(multi.time)  # SET timestamp: epoch seconds
    ins = next(r for r in recs if r.text.startswith("INSERT"))
    assert ins.rows_affected == 2


def test_slow_statements_sit_beside_their_statements(rec):
    doc = analysed(rec, [rec["slow"]])
    f = doc["logs"]["files"][0]
    assert (f["format"], f["offset_how"], f["garbled"]) == ("slowlog", "epoch", 0)
    a = rec["threads"]["a"]
    timed = [s for s in doc["sql"] if s["slow_log"]]
    by_sql = {s["sql"]: s for s in timed}
    sleep = by_sql["SELECT SLEEP(0.3), name\nFROM t\nWHERE id = 1"]
    sl = sleep["slow_log"]
    assert sl["thread_id"] == a and sl["matched_by"] == "thread" and sleep["seen_in"] == "both"
    # the server's own time is inside the latency the wire shows, which adds little on loopback
    assert 0.29 <= sl["query_time"] <= sleep["latency"] < sl["query_time"] + 0.05
    assert sl["wire_latency"] == sleep["latency"] and sl["wire_minus_query_time"] >= 0
    for s in timed:
        assert s["slow_log"]["query_time"] <= s["latency"] + 0.002, s["sql"]
        assert s["slow_log"]["rows_sent"] in (s["rows"] or 0, 0)
    # the same SELECT twice in one second: each log record on its own statement, in order
    ones = [s for s in timed if s["sql"] in ("SELECT name FROM t WHERE id = 1", "SELECT name FROM t WHERE id = 2")]
    assert [s["slow_log"]["text"] for s in ones] == [s["sql"] for s in ones] and len(ones) == 2
    assert len({s["slow_log"]["line"] for s in timed}) == len(timed)
    # the pooled connection has no greeting in the capture: its one distinctive statement is found by time
    pooled = by_sql["SELECT COUNT(*) FROM t WHERE name LIKE 'pooled%'"]["slow_log"]
    assert pooled["matched_by"] == "time" and pooled["thread_id"] == rec["threads"]["pooled"]
    assert doc["logs"]["sql_in_slow_log"] == len(timed) >= 8
    assert all(s["seen_in"] == "packets" for s in doc["sql"] if not s["slow_log"])


def test_slow_statements_outside_the_capture_are_listed_unmatched(rec):
    doc = analysed(rec, [rec["slow"]])
    un = [u for u in doc["logs"]["unmatched"] if u["source"] == "slowlog"]
    after = [u for u in un if u["text"] == "SELECT 'after the capture'"]
    assert len(after) == 1 and after[0]["when"] == "after the capture" and after[0]["query_time"] is not None
    # nothing the capture holds is listed as unmatched
    captured = {s["sql"] for s in doc["sql"]}
    assert not [u for u in un if u["text"] in captured and u["when"] == "during the capture"]


def test_killed_and_aborted_connections_join_their_connections(rec):
    doc = analysed(rec, [rec["err"]])
    found = {f["conn_id"]: f for f in doc["findings"] if f["code"] == "mysql-connection-aborted"}
    from glancetrace.pipeline import decode
    from glancetrace.protocols.mysql.events import MysqlHandshake
    res = decode(rec["pcap"], mysql_ports=[rec["port"]])
    conn_of = {h.thread_id: h.conn_id for h in res.events if isinstance(h, MysqlHandshake)}
    killed, gone = conn_of[rec["threads"]["d"]], conn_of[rec["threads"]["c"]]
    assert set(found) >= {killed, gone}
    assert "KILLED" in found[killed]["message"] and "Connection was killed" in found[killed]["message"]
    assert "Got an error reading communication packets" in found[gone]["message"]
    assert found[gone]["severity"] == "warning"  # during the capture
    assert f"tcp.stream eq {gone}" in found[gone]["wireshark_filter"]
    # one finding per connection, and the lines that made it are not listed as matching nothing
    assert len([f for f in doc["findings"] if f["code"] == "mysql-connection-aborted" and f["conn_id"] == killed]) == 1
    listed = {(u["file"], u["line"]) for u in doc["logs"]["unmatched"]}
    assert not [u for u in doc["logs"]["unmatched"] if f"connection {rec['threads']['c']} " in u["text"]]
    assert listed  # the server's shutdown aborted the pooled connection, which the capture never greeted


def test_slow_log_via_the_cli_in_json_and_html(rec, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True)
    p = run("report", rec["pcap"], "--mysql-port", rec["port"], "--log", rec["slow"], "--log", rec["err"],
            "--format", "json", "-q")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert {f["format"] for f in doc["logs"]["files"]} == {"slowlog", "mariadb"}
    assert any(s["slow_log"] for s in doc["sql"])
    out = tmp_path / "r.html"
    p = run("report", rec["pcap"], "--mysql-port", rec["port"], "--log", rec["slow"], "-o", out, "-q")
    assert p.returncode == 0, p.stderr
    assert "query_time" in out.read_text()
    assert SECRET in pathlib.Path(rec["slow"]).read_text()  # the input holds it
    for text in (json.dumps(doc), out.read_text()):
        assert SECRET not in text
    # the statement's slow-log twin, and a copy left unmatched, are redacted like the packets
    ins = next(s for s in doc["sql"] if s["sql"] and s["sql"].startswith("INSERT INTO users"))
    assert ins["slow_log"] and "<redacted" in ins["slow_log"]["text"]
    p = run("images", rec["pcap"], "--mysql-port", rec["port"], "--log", rec["slow"], "--format", "json", "-q")
    assert p.returncode == 0 and SECRET not in p.stdout


def test_mysql_variant_of_the_slow_log(tmp_path):
    """MySQL 8 writes the connection id on the User@Host line, ISO times in UTC, and with log_slow_extra the
    start to the microsecond; MySQL 5.6 and MariaDB the YYMMDD form."""
    from glancetrace.logs.slowlog import SlowLogParser
    lines = pathlib.Path(tmp_path / "mysql-slow.log")
    lines.write_text(
        "/usr/sbin/mysqld, Version: 8.0.40 (MySQL Community Server - GPL). started with:\n"
        "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n"
        "Time                 Id Command    Argument\n"
        "# Time: 2026-12-03T14:52:03.402117Z\n"
        "# User@Host: glance[glance] @  [172.17.0.5]  Id:    81\n"
        "# Query_time: 0.306371  Lock_time: 0.000103 Rows_sent: 1  Rows_examined: 1 Thread_id: 81 Errno: 0 "
        "Killed: 0 Bytes_received: 0 Bytes_sent: 105 Start: 2026-12-03T14:52:03.095746Z "
        "End: 2026-12-03T14:52:03.402117Z\n"
        "use glance;\n"
        "SET timestamp=1796309523;\n"
        "SELECT images.id FROM images\n"
        "WHERE images.status = 'queued';\n"
        "# Time: 261203 14:52:04\n"
        "# User@Host: glance[glance] @ controller-0 [172.17.0.5]  Id:    82\n"
        "# Query_time: 0.000045  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0\n"
        "SET timestamp=1796309524;\n"
        "# administrator command: Quit;\n"
        "# User@Host: glance[glance] @  [172.17.0.5]  Id:    83\n"
        "# Query_time: 0.1\n")
    assert detect(str(lines)) == "slowlog"
    scan = LogScan(str(lines))
    recs = list(scan)
    assert [r.thread_id for r in recs] == [81, 82]
    assert recs[0].time == pytest.approx(1796309523.095746) and recs[0].schema == "glance"
    assert recs[0].text == "SELECT images.id FROM images\nWHERE images.status = 'queued'"
    assert recs[1].text == "administrator command: Quit" and recs[1].time == 1796309524
    assert scan.stats.garbled == 1 and scan.stats.garbled_examples == [16]  # the last record was cut
    p = SlowLogParser()
    assert p.feed("# Query_time: 0.1", 1) == [] and p.stats.other == 1  # no record open: not one of ours


def test_html_shows_the_server_time_beside_the_statement(rec, tmp_path):
    """In Chromium: the SQL table's latency says what the server measured, the statement's detail the slow-log
    record (server time, rows examined, file:line, connection) against the wire."""
    from glancetrace.report.html import render_html
    from tests.support.browser import chromium, offline_page
    doc = analysed(rec, [rec["slow"]])
    path = tmp_path / "r.html"
    path.write_text(render_html(doc), encoding="utf-8")
    sleep = next(s for s in doc["sql"] if s["sql"] and "SLEEP(0.3)" in s["sql"])
    with chromium() as browser, offline_page(browser, path) as page:
        page.wait_for_selector('html[data-ready="1"]', state="attached", timeout=15000)
        page.click("#tbl-sql > summary")
        row = page.locator("#tbl-sql table.data tbody tr.row", has_text="SLEEP(0.3)")
        row.wait_for(timeout=5000)
        shown = re.search(r"\(server ([\d.]+) ms\)", row.inner_text())  # e.g. "307 ms (server 306 ms)"
        assert shown and abs(float(shown.group(1)) - sleep["slow_log"]["query_time"] * 1000) < 1
        row.click()
        detail = page.inner_text("#tbl-sql tr.detail")
        assert "slow query log" in detail and "rows examined 1" in detail
        assert f"slow.log:{sleep['slow_log']['line']}" in detail and f"connection {rec['threads']['a']}" in detail
        assert page.errors == [] and page.requests == []


def test_slow_log_days_before_the_capture_are_skipped_unparsed(rec, tmp_path):
    """The recorded slow log after 30 copies of its records on earlier days (their `# Time:` and `SET timestamp`
    moved back): the copies' lines are counted, not parsed, and the join is the same as on the log alone."""
    import datetime as dt
    import re
    text = pathlib.Path(rec["slow"]).read_text()
    head = "".join(text.splitlines(keepends=True)[:3])  # the server's banner
    body = text[len(head):]

    def days_back(k: int) -> str:
        def when(m):
            t = dt.datetime.strptime(m.group(1), "%y%m%d %H:%M:%S") - dt.timedelta(days=k)
            return "# Time: " + t.strftime("%y%m%d %H:%M:%S")
        b = re.sub(r"^# Time: (\d{6} [\d ]\d:\d\d:\d\d)", when, body, flags=re.M)
        return re.sub(r"^SET timestamp=(\d+);", lambda m: f"SET timestamp={int(m.group(1)) - k * 86400};", b, flags=re.M)
    path = tmp_path / "slow.log"
    path.write_text(head + "".join(days_back(k) for k in range(30, 0, -1)) + body)
    alone, long = analysed(rec, [rec["slow"]]), analysed(rec, [str(path)])
    f, g = long["logs"]["files"][0], alone["logs"]["files"][0]
    assert f["records"] == g["records"] and f["garbled"] == 0
    assert f["before_window"] >= 30 * body.count("# Time:")
    assert [s["slow_log"] and s["slow_log"]["query_time"] for s in long["sql"]] == \
        [s["slow_log"] and s["slow_log"]["query_time"] for s in alone["sql"]]
