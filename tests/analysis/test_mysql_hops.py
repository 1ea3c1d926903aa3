"""MySQL through a database VIP: a real haproxy (TCP mode, mysql-check) in front of a real MariaDB.

One capture per module holds both hops of every conversation: PyMySQL
clients (autocommit off, as SQLAlchemy uses it) through two frontends —
127.0.0.2:<the server's port> (both hops on the same port number, the usual
VIP layout) and 127.0.0.1:<another port> —, a direct client, two clients
running the same statements at the same moment, and connections the proxy
closes (`timeout client` on an idle one, `timeout server` on a statement in
flight, a KILL from the server).  MariaDB's general log is the oracle: the
statements listed must be exactly the ones it logged, once each.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import pytest

from glancetrace import pipeline
from glancetrace.analysis.analyze import analyze
from tests.support.haproxy import CHECK_USER, haproxy_vip
from tests.support.loopback import free_port, need, tcpdump, tshark_fields
from tests.support.mariadb import mariadb_server
from tests.support.rig import SCENARIOS, analysed

pymysql = pytest.importorskip("pymysql")

LOG_TO_COMMAND = {"Query": "COM_QUERY", "Ping": "COM_PING", "Quit": "COM_QUIT", "Init DB": "COM_INIT_DB"}
NEVER_REACHED = {"SELECT 'after the timeout'", "SELECT 'after the kill'"}
TIMEOUT = 1.5  # haproxy's timeout client / timeout server
# a statement the proxy cuts off in flight at TIMEOUT; it sleeps far longer, so that a proxy the shared VM
# starves of CPU for a second still cuts it (CI once saw SLEEP(3.0) answered through the proxy)
IN_FLIGHT = f"SELECT SLEEP({TIMEOUT * 6})"


class Scenario:
    def __init__(self):
        self.threads: dict[str, int] = {}  # role → server thread id


def _work(conn, rounds: int = 3) -> None:
    """What an oslo.db session does: statements in transactions, COMMIT/ROLLBACK, a pre-ping."""
    cur = conn.cursor()
    for _ in range(rounds):
        conn.ping(reconnect=False)
        cur.execute("SELECT id, status, size FROM images ORDER BY id")
        cur.execute("UPDATE images SET size = size + 1 WHERE id = 'shared'")
        conn.commit()
        cur.execute("SELECT status FROM images WHERE id = 'shared'")
        conn.rollback()


def _run_clients(db, vip, sc: Scenario) -> None:
    direct = pymysql.connect(**db.connect_args(autocommit=False))
    sc.threads["direct"] = direct.thread_id()
    _work(direct, rounds=1)
    # two clients through the same-port VIP running the same statements at the same moment
    barrier = threading.Barrier(2)

    def twin(role):
        c = pymysql.connect(**vip.connect_args(0, autocommit=False))
        sc.threads[role] = c.thread_id()
        barrier.wait()
        _work(c)
        c.close()

    ts = [threading.Thread(target=twin, args=(r,)) for r in ("twin1", "twin2")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    other = pymysql.connect(**vip.connect_args(1, autocommit=False))  # a frontend on another port
    sc.threads["other_port"] = other.thread_id()
    _work(other, rounds=1)
    other.close()
    # closed by the proxy while idle (timeout client): the next statement finds the server gone
    idle = pymysql.connect(**vip.connect_args(0, autocommit=False))
    sc.threads["idle"] = idle.thread_id()
    idle.cursor().execute("SELECT 'before the timeout'")
    idle.commit()
    time.sleep(TIMEOUT + 0.7)
    with pytest.raises(pymysql.err.OperationalError):
        idle.cursor().execute("SELECT 'after the timeout'")
    # closed by the proxy with a statement in flight (timeout server)
    slow = pymysql.connect(**vip.connect_args(0, autocommit=False))
    sc.threads["slow"] = slow.thread_id()
    with pytest.raises(pymysql.err.OperationalError):
        slow.cursor().execute(IN_FLIGHT)
    # the server ends the back connection (as a Galera node going away does)
    killed = pymysql.connect(**vip.connect_args(1, autocommit=False))
    sc.threads["killed"] = killed.thread_id()
    killed.cursor().execute("SELECT 'before the kill'")
    direct.cursor().execute(f"KILL {sc.threads['killed']}")
    time.sleep(0.3)
    with pytest.raises(pymysql.err.OperationalError):
        killed.cursor().execute("SELECT 'after the kill'")
    direct.close()
    time.sleep(0.5)  # a few more health checks


@pytest.fixture(scope="module")
def vip(tmp_path_factory):
    need("tcpdump", "mariadbd", "mariadb-install-db", "haproxy")
    base = tmp_path_factory.mktemp("vip")
    pcap = base / "vip.pcap"
    sc = Scenario()
    with mariadb_server(base / "db") as db:
        other_port = free_port()
        fronts = [("127.0.0.2", db.port), ("127.0.0.1", other_port)]
        setup = pymysql.connect(**db.connect_args())
        setup.cursor().execute("CREATE TABLE images (id VARCHAR(36) PRIMARY KEY, status VARCHAR(30), size BIGINT)")
        setup.cursor().execute("INSERT INTO images VALUES ('shared', 'active', 0), ('other', 'queued', 0)")
        setup.commit()
        setup.close()
        with haproxy_vip(base / "ha", db, fronts, check_inter=0.2, timeout_client=TIMEOUT,
                         timeout_server=TIMEOUT) as proxy:
            since = db.log_offset()
            with tcpdump(pcap, f"tcp port {db.port} or tcp port {other_port}", settle=0.5):
                _run_clients(db, proxy, sc)
            log = db.general_log(since)
        ports = {db.port, other_port}
    res = pipeline.decode(str(pcap), mysql_ports=ports, want_http=False, sniff_other_ports=False)
    an = analyze(res)
    return {"pcap": pcap, "ports": ports, "sc": sc, "log": log, "res": res, "an": an, "doc": an.to_dict(),
            "db_port": min(p for h, p in fronts if h == "127.0.0.2"), "other_port": other_port}


def _threads_of_conns(an) -> dict[int, int]:
    return {h.conn_id: h.thread_id for h in an.handshakes if h.thread_id is not None}


def _expected(log) -> dict[int, list[tuple[str, str]]]:
    checks = {t for t, cmd, arg in log if cmd == "Connect" and arg.startswith(CHECK_USER + "@")}
    out: dict[int, list] = {}
    for t, cmd, arg in log:
        if t not in checks and cmd in LOG_TO_COMMAND:
            out.setdefault(t, []).append((LOG_TO_COMMAND[cmd], arg))
    return out


def test_statements_are_the_general_log_once(vip):
    doc, an = vip["doc"], vip["an"]
    thread = _threads_of_conns(an)
    want = _expected(vip["log"])
    got: dict[int, list] = {}
    for s in doc["sql"]:
        if s["sql"] in NEVER_REACHED:
            continue
        t = thread[s["conn_id"]]
        # MariaDB logs no COM_PING, and a Quit only when it has processed it: those are counted below
        if s["command"] == "COM_QUERY" or (s["command"], "") in want.get(t, ()):
            got.setdefault(t, []).append((s["command"], s["sql"] or ""))
    for t in sorted(set(got) | set(want)):
        assert got.get(t) == want.get(t), t
    assert sum(len(v) for v in want.values()) > 60
    assert sum(s["command"] == "COM_PING" for s in doc["sql"]) == 2 * 3 + 1 + 1
    # sent after the proxy or the server had closed: on the wire, never answered, listed once
    late = {s["sql"]: s for s in doc["sql"] if s["sql"] in NEVER_REACHED}
    assert set(late) == NEVER_REACHED and all(s["result"] is None for s in late.values())
    assert late["SELECT 'after the timeout'"]["back"] is None  # the proxy had closed both hops
    assert late["SELECT 'after the kill'"]["back"] is not None  # relayed to a back hop the server had closed
    assert doc["summary"]["statements"] == len(doc["sql"])


def test_each_conversation_pairs_with_its_back_hop(vip):
    doc, sc, an = vip["doc"], vip["sc"], vip["an"]
    thread = _threads_of_conns(an)
    pairs = {thread[p["front_conn"]]: p for p in doc["mysql_hops"]}
    proxied = {r: t for r, t in sc.threads.items() if r != "direct"}
    assert set(pairs) == set(proxied.values())
    for role, t in proxied.items():
        p = pairs[t]
        assert thread[p["back_conn"]] == t  # the greeting relayed to the front is the back's
        assert p["server"] == f"127.0.0.1:{vip['db_port']}"
        front_port = vip["other_port"] if role in ("other_port", "killed") else vip["db_port"]
        assert p["proxy"] == f"127.0.0.{1 if front_port == vip['other_port'] else 2}:{front_port}"
        assert p["unmatched_back"] == 0 and p["front_gap_bytes"] == p["back_gap_bytes"] == 0
    # both hops on one port number: pairing, not ports, told them apart
    same_port = [p for p in doc["mysql_hops"] if p["proxy"].endswith(f":{vip['db_port']}")]
    assert len(same_port) == 4


def test_both_hops_frames_times_and_the_latency_the_proxy_adds(vip):
    rows = [s for s in vip["doc"]["sql"] if s["back"] is not None]
    assert len(rows) > 40
    for s in rows:
        b = s["back"]
        assert b["conn_id"] != s["conn_id"]
        assert s["request_time"] <= b["request_time"] <= s["request_time"] + 0.5
        assert b["frames"]["request"][0] > s["frames"]["request"][0]  # the proxy relays after it received
        if s["result"] is not None and b["response_time"] is not None:
            assert b["response_time"] <= s["response_time"]
            assert s["proxy_latency"] == pytest.approx(s["latency"] - b["latency"])
            assert 0 <= s["proxy_latency"] < 0.5
        assert b["wireshark_filter"].startswith(f"tcp.stream eq {b['conn_id']} && ")
    direct = [s for s in vip["doc"]["sql"] if s["hop"] == "direct"]
    assert direct and all(s["back"] is None and s["proxy_latency"] is None for s in direct)


def test_digest_counts_each_statement_once(vip):
    doc, log = vip["doc"], vip["log"]
    digest = {d["fingerprint"]: d for d in doc["sql_digest"]}
    assert sum(d["count"] for d in doc["sql_digest"]) == len(doc["sql"])
    logged = sum(1 for _, cmd, arg in log if arg == "UPDATE images SET size = size + 1 WHERE id = 'shared'")
    assert logged == 3 + 3 + 1 + 1
    assert digest["update images set size = size + ? where id = ?"]["count"] == logged


def test_health_checks_are_one_summary_line_not_statements(vip):
    doc = vip["doc"]
    # tshark does not decode a login sent before the greeting: the connections carrying the check user's name
    rows = tshark_fields(vip["pcap"], f'tcp.payload contains "{CHECK_USER}"', ["tcp.stream"])
    checks_seen = {int(r[0]) for r in rows}
    [hc] = doc["summary"]["mysql_health_checks"]
    assert hc["proxy"] == "127.0.0.1" and hc["server"] == f"127.0.0.1:{vip['db_port']}"
    assert hc["interval"] == pytest.approx(0.2, abs=0.1)  # haproxy's inter 200ms; a loaded machine drifts
    assert hc["count"] == len(checks_seen) >= 15
    listed_conns = {s["conn_id"] for s in doc["sql"]} | {s["back"]["conn_id"] for s in doc["sql"] if s["back"]}
    assert not listed_conns & checks_seen
    assert not any("hacheck" in f["message"] for f in doc["findings"])


def test_closes_name_the_side_that_closed_and_the_statement_in_flight(vip):
    doc = vip["doc"]
    sql_of = {s["id"]: s["sql"] for s in doc["sql"]}
    found = {sql_of[f["sql_id"]]: f for f in doc["findings"] if f["code"].startswith("mysql-")}
    # the conversations the client ended with COM_QUIT make none
    assert sorted((f["code"], q) for q, f in found.items()) == [
        ("mysql-back-closed", "SELECT 'after the kill'"), ("mysql-proxy-closed", "SELECT 'after the timeout'"),
        ("mysql-proxy-closed", IN_FLIGHT)]
    idle = found["SELECT 'after the timeout'"]["message"]
    assert idle.startswith("the proxy 127.0.0.2:") and "was not relayed" in idle
    idle_s = float(re.search(r"closed ([\d.]+) s after the last reply", idle).group(1))
    assert idle_s == pytest.approx(TIMEOUT, abs=0.4)
    slow = found[IN_FLIGHT]["message"]
    assert "statement in flight" in slow
    in_flight_s = float(re.search(r"closed ([\d.]+) s after it was sent", slow).group(1))
    assert in_flight_s == pytest.approx(TIMEOUT, abs=0.4)
    kill = found["SELECT 'after the kill'"]["message"]
    assert kill.startswith(f"the server 127.0.0.1:{vip['db_port']} closed the back connection")
    assert "the proxy then closed the front connection" in kill
    for f in found.values():
        assert f["severity"] == "warning" and f["wireshark_filter"].startswith("tcp.stream eq ")


def _cli(*args) -> str:
    p = subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_sql_command_lists_and_digests_once(vip):
    args = ["sql", vip["pcap"], "-q"] + [a for p in vip["ports"] for a in ("--mysql-port", p)]
    rows = json.loads(_cli(*args, "--format", "json"))
    assert [(r["conn_id"], r["sql"], r["hop"]) for r in rows] == [(s["conn_id"], s["sql"], s["hop"])
                                                                  for s in vip["doc"]["sql"]]
    digest = json.loads(_cli(*args, "--digest", "--format", "json"))
    assert sum(d["count"] for d in digest) == len(rows)
    table = _cli(*args)
    assert f"{len(rows)} SQL statements" in table and "⇄" in table


def _without_first_request(src, dst, client: str, needle: bytes) -> int:
    """Copy the capture leaving out the first segment from `client` ("ip:port") carrying `needle`."""
    import dpkt
    ip, port = client.rsplit(":", 1)
    dropped = None
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        r = dpkt.pcap.Reader(fi)
        w = dpkt.pcap.Writer(fo, snaplen=r.snaplen, linktype=r.datalink())
        for n, (ts, buf) in enumerate(r, 1):
            pkt = dpkt.ethernet.Ethernet(buf).data
            tcp = pkt.data if isinstance(pkt, dpkt.ip.IP) else None
            if (dropped is None and isinstance(tcp, dpkt.tcp.TCP) and tcp.sport == int(port)
                    and pkt.src == bytes(map(int, ip.split("."))) and needle in bytes(tcp.data)):
                dropped = n
                continue
            w.writepkt(buf, ts)
    assert dropped is not None
    return dropped


@pytest.mark.parametrize("hop", ["front", "back"])
def test_a_segment_lost_on_one_hop_still_pairs_and_shows_the_gap_there(vip, tmp_path, hop):
    doc = vip["doc"]
    pair = next(p for p in doc["mysql_hops"] if p["statements"] == 21)  # a twin: 3 rounds of work
    client = pair["client"] if hop == "front" else pair["proxy_source"]
    damaged = tmp_path / "lost.pcap"
    _without_first_request(vip["pcap"], damaged, client, b"UPDATE images")
    res = pipeline.decode(str(damaged), mysql_ports=vip["ports"], want_http=False, sniff_other_ports=False)
    doc2 = analyze(res).to_dict()
    [again] = [p for p in doc2["mysql_hops"] if p["front_conn"] == pair["front_conn"]]
    assert again["back_conn"] == pair["back_conn"]
    lost, kept = (("front_gap_bytes", "back_gap_bytes") if hop == "front" else ("back_gap_bytes", "front_gap_bytes"))
    assert again[lost] > 0 and again[kept] == 0
    assert again["statements"] >= 19  # the lost request and perhaps the one its gap cut
    # still listed once: the statement seen whole on the other hop stands for the conversation
    assert len(doc2["sql"]) == len(doc["sql"])
    rows = [s for s in doc2["sql"] if s["conn_id"] in (pair["front_conn"], pair["back_conn"])]
    assert sum(s["sql"] == "UPDATE images SET size = size + 1 WHERE id = 'shared'" for s in rows) == 3
    damaged_rows = [s for s in rows if s["back"] is None]
    assert damaged_rows and all(s["other_hop_lost"] for s in damaged_rows)
    assert all((s["hop"] == "back") == (hop == "front") for s in damaged_rows)
    assert not any(s["other_hop_lost"] for s in doc["sql"])  # the undamaged capture: nothing lost


def test_html_shows_both_hops_and_the_health_checks(vip, tmp_path):
    from glancetrace.report.html import write_html
    from tests.report.test_html_browser import ready, wait_until
    from tests.support.browser import chromium, offline_page

    doc = vip["doc"]
    path = write_html(doc, tmp_path / "vip.html")
    proxied = next(i for i, s in enumerate(doc["sql"]) if s["back"] is not None and s["result"] == "rows")
    s = doc["sql"][proxied]
    with chromium() as browser, offline_page(browser, path) as page:
        ready(page)
        hc = doc["summary"]["mysql_health_checks"][0]
        assert f"{hc['count']} MySQL health checks by the proxy 127.0.0.1" in page.inner_text("body")
        page.click("#tbl-sql > summary")
        rows = page.locator("#tbl-sql table.data tbody tr.row")
        assert wait_until(lambda: rows.count() == len(doc["sql"]))
        assert f"{s['conn_id']}⇄{s['back']['conn_id']}" in rows.nth(proxied).inner_text()
        rows.nth(proxied).click()
        detail = page.inner_text("#tbl-sql tr.detail")
        assert re.search(rf"connection {s['back']['conn_id']}\s+{s['back']['client']} → {s['back']['server']}", detail)
        assert "the proxy adds" in detail
        assert page.errors == [] and page.requests == []


def test_jobs_pair_the_same(vip):
    """Sharded decoding (a front and its back hop may go to different workers) pairs the same."""
    res = pipeline.decode(str(vip["pcap"]), mysql_ports=vip["ports"], want_http=False, sniff_other_ports=False,
                          jobs=2)
    doc = analyze(res).to_dict()
    assert doc["mysql_hops"] == vip["doc"]["mysql_hops"]
    assert doc["sql"] == vip["doc"]["sql"]
    assert doc["summary"]["mysql_health_checks"] == vip["doc"]["summary"]["mysql_health_checks"]


def _only_connections_carrying(src, dst, needle: bytes) -> int:
    """Copy the capture keeping only the TCP connections one of whose segments carries `needle`."""
    import dpkt

    def tcp_of(buf):
        ip = dpkt.ethernet.Ethernet(buf).data
        return ip.data if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP) else None

    with open(src, "rb") as fi:
        records = list(dpkt.pcap.Reader(fi))
    ports = {t.sport for _, buf in records if (t := tcp_of(buf)) is not None and needle in bytes(t.data)}
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        r = dpkt.pcap.Reader(fi)
        w = dpkt.pcap.Writer(fo, snaplen=r.snaplen, linktype=r.datalink())
        for ts, buf in records:
            t = tcp_of(buf)
            if t is not None and (t.sport in ports or t.dport in ports):
                w.writepkt(buf, ts)
    return len(ports)


def test_health_checks_alone_are_known_by_their_steady_interval(vip, tmp_path):
    """A capture in which no client used the VIP: nothing pairs, the checks' regular beat tells them."""
    only = tmp_path / "checks.pcap"
    n = _only_connections_carrying(vip["pcap"], only, CHECK_USER.encode())
    res = pipeline.decode(str(only), mysql_ports=vip["ports"], want_http=False, sniff_other_ports=False)
    doc = analyze(res).to_dict()
    assert doc["mysql_hops"] == [] and doc["sql"] == [] and doc["findings"] == []
    [hc] = doc["summary"]["mysql_health_checks"]
    assert hc["count"] == n == vip["doc"]["summary"]["mysql_health_checks"][0]["count"]
    # the capture ends between a check's login (sent before the greeting) and the greeting
    import dpkt
    cut = tmp_path / "cut.pcap"
    with open(only, "rb") as fi, open(cut, "wb") as fo:
        r = dpkt.pcap.Reader(fi)
        records = list(r)
        last_login = max(i for i, (_, buf) in enumerate(records) if CHECK_USER.encode() in buf)
        w = dpkt.pcap.Writer(fo, snaplen=r.snaplen, linktype=r.datalink())
        for ts, buf in records[:last_login + 1]:
            w.writepkt(buf, ts)
    doc = analyze(pipeline.decode(str(cut), mysql_ports=vip["ports"], want_http=False,
                                  sniff_other_ports=False)).to_dict()
    assert doc["sql"] == [] and doc["summary"]["mysql_health_checks"][0]["count"] == n


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_direct_connections_of_the_rig_pair_with_nothing(scenario):
    """Glance and Keystone talking to MariaDB without a proxy: thousands of statements, the same queries
    on pooled connections at once, and not one pair or health check."""
    doc = analysed(scenario)
    assert len(doc["sql"]) > 5000
    assert doc["mysql_hops"] == [] and doc["summary"]["mysql_health_checks"] == []
    assert {s["hop"] for s in doc["sql"]} == {"direct"}


def test_damaged_fields_of_proxied_statements_still_make_the_report(vip):
    """The analysis fuzz's damage (tests/fuzz) applied to the proxied capture's statements: pairing,
    its findings, the strict JSON and the HTML report are still made."""
    import copy
    import io

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from glancetrace.protocols.mysql import SqlStatement
    from glancetrace.report import tables
    from glancetrace.report.html import render_html
    from tests.fuzz.test_analysis_fuzz import damage

    res0 = vip["res"]
    proxied = {c for p in vip["doc"]["mysql_hops"] for c in (p["front_conn"], p["back_conn"])}
    targets = [i for i, e in enumerate(res0.events) if isinstance(e, SqlStatement) and e.conn_id in proxied]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.data())
    def check(data):
        res = copy.copy(res0)
        res.events = list(res0.events)
        for i in data.draw(st.lists(st.sampled_from(targets), min_size=1, max_size=8)):
            ev = res.events[i] = copy.deepcopy(res.events[i])
            data.draw(damage(ev))
        doc = analyze(res).to_dict()
        tables.write_json(doc, io.StringIO())
        assert render_html(doc).lower().startswith("<!doctype html>")

    check()


@pytest.mark.parametrize("side", ["front", "back"])
@pytest.mark.parametrize("field,value", [("latency", float("nan")), ("latency", float("inf")), ("latency", None),
                                         ("sql", "SELEC"), ("result", None), ("response_time", None)])
def test_one_damaged_field_of_a_relayed_statement(vip, side, field, value):
    import copy
    import io

    from glancetrace.report import tables

    res = copy.copy(vip["res"])
    res.events = list(res.events)
    row = next(s for s in vip["doc"]["sql"] if s["back"] is not None and s["sql"] == "COMMIT")
    conn, t = (row["conn_id"], row["request_time"]) if side == "front" else (row["back"]["conn_id"],
                                                                              row["back"]["request_time"])
    i = next(i for i, e in enumerate(res.events) if getattr(e, "request_time", None) == t and e.conn_id == conn)
    res.events[i] = copy.deepcopy(res.events[i])
    setattr(res.events[i], field, value)
    doc = analyze(res).to_dict()
    tables.write_json(doc, io.StringIO())  # strict JSON: no NaN
    # a changed text is two statements; any other damage leaves the conversation listed once
    assert len(doc["sql"]) == len(vip["doc"]["sql"]) + (field == "sql")
    assert len(doc["mysql_hops"]) == len(vip["doc"]["mysql_hops"])
