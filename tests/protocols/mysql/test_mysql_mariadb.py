"""The MySQL decoder on real traffic: a real MariaDB, real clients, recorded with tcpdump.

One capture is made per module (a few seconds) and every test reads it.
The general query log of the server is the oracle for statement text and
order; tshark is a second opinion.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
import subprocess
from decimal import Decimal

import pytest

from glancetrace import pipeline
from glancetrace.protocols.mysql import MysqlHandshake, SqlStatement
from tests.support.emitted import decode_recording
from tests.support.loopback import need, tcpdump, tshark_fields
from tests.support.mariadb import mariadb_server

pymysql = pytest.importorskip("pymysql")

BIG_ROWS = 10_000
LOG_TO_COMMAND = {"Query": "COM_QUERY", "Prepare": "COM_STMT_PREPARE", "Execute": "COM_STMT_EXECUTE",
                  "Init DB": "COM_INIT_DB", "Ping": "COM_PING", "Quit": "COM_QUIT",
                  "Close stmt": "COM_STMT_CLOSE", "Reset stmt": "COM_STMT_RESET",
                  "Field List": "COM_FIELD_LIST", "Statistics": "COM_STATISTICS",
                  "Long Data": "COM_STMT_SEND_LONG_DATA", "Set option": "COM_SET_OPTION",
                  "Change user": "COM_CHANGE_USER", "Reset connection": "COM_RESET_CONNECTION"}
WITH_TEXT = {"COM_QUERY", "COM_STMT_PREPARE", "COM_STMT_EXECUTE", "COM_INIT_DB"}

PARAMS = [  # (value sent, SQL type it is stored as)
    (7, "INT"), (-(2 ** 40), "BIGINT"), (2.5, "DOUBLE"), (Decimal("12345.67"), "DECIMAL(10,2)"),
    ("héllo 'quoted'", "VARCHAR(64)"), (b"\x00\x01\xfe binary", "BLOB"),
    (dt.date(2024, 2, 29), "DATE"), (dt.datetime(2024, 2, 29, 13, 14, 15), "DATETIME"), (None, "INT"),
]


class Scenario:
    """What the clients did, to check the decode against."""

    def __init__(self):
        self.threads: dict[str, int] = {}  # role → server thread id
        self.ports: dict[str, int] = {}  # role → client port
        self.big_query_len = 0
        self.keylog = None  # the TLS client's key log (SSLKEYLOGFILE format)


def _port(conn) -> int:
    return conn._sock.getsockname()[1]


def _run_clients(db, sc: Scenario, midstream_conn) -> None:
    # text protocol, PyMySQL: queries, errors, multi-statements, a large result, LOCAL INFILE
    c = pymysql.connect(**db.connect_args(ssl_disabled=True, local_infile=True,
                                          client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS))
    sc.threads["text"], sc.ports["text"] = c.thread_id(), _port(c)
    cur = c.cursor()
    cur.execute("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64), b LONGBLOB)")
    cur.execute("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')")
    cur.execute("SELECT id, name FROM t WHERE name IN ('a', 'b') ORDER BY id")
    with pytest.raises(pymysql.err.ProgrammingError):
        cur.execute("SELEC oops")
    with pytest.raises(pymysql.err.ProgrammingError):
        cur.execute("SELECT * FROM no_such_table")
    cur.execute("SELECT 1; UPDATE t SET name = 'z' WHERE id = 1; SELECT 2, 3")
    while cur.nextset():
        pass
    cur.execute(f"SELECT seq, 'row' FROM seq_1_to_{BIG_ROWS}")
    assert len(cur.fetchall()) == BIG_ROWS
    c.select_db("gt")
    c.ping(reconnect=False)
    big = "x" * ((16 << 20) + 1000)  # over 16 MB: the query is split over several packets
    q = f"INSERT INTO t (name, b) VALUES ('big', '{big}')"
    sc.big_query_len = len(q)
    cur.execute(q)
    infile = db.base / "infile.csv"
    infile.write_text("".join(f"{i},n{i}\n" for i in range(100, 150)))
    cur.execute(f"LOAD DATA LOCAL INFILE '{infile}' INTO TABLE t FIELDS TERMINATED BY ',' (id, name)")
    c.commit()
    c.close()

    # TLS: the SSL request, then nothing readable without the client's key log
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.keylog_filename = sc.keylog = str(db.base / "keys.log")
    c = pymysql.connect(**db.connect_args(ssl=ctx))
    sc.threads["tls"], sc.ports["tls"] = c.thread_id(), _port(c)
    cur = c.cursor()
    cur.execute("SELECT 'secret'")
    cur.execute("SELECT id, name FROM t ORDER BY id LIMIT 2")
    c.close()

    # the connection opened before tcpdump started
    cur = midstream_conn.cursor()
    cur.execute("SELECT name FROM t WHERE id = 2")
    cur.execute("DELETE FROM t WHERE id = 3")
    midstream_conn.commit()
    midstream_conn.close()

    mc = pytest.importorskip("mysql.connector")
    # server-side prepared statements with every common parameter type
    c = mc.connect(**db.connect_args(ssl_disabled=True))
    sc.threads["prepared"] = c.connection_id
    cur = c.cursor(prepared=True)
    cur.execute("CREATE TABLE p (i INT, bi BIGINT, d DOUBLE, de DECIMAL(10,2), v VARCHAR(64), b BLOB,"
                " da DATE, dtm DATETIME, n INT)")
    cur.execute("INSERT INTO p VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [v for v, _ in PARAMS])
    cur.execute("SELECT i, bi, d, de, v, b, da, dtm, n FROM p WHERE i = ? AND v <> ?", (7, "nope"))
    cur.fetchall()
    cur.execute("SELECT i FROM p WHERE i = ?", (123456,))
    cur.fetchall()
    c.commit()
    c.close()

    # the compressed protocol
    c = mc.connect(**db.connect_args(ssl_disabled=True, compress=True))
    sc.threads["compressed"] = c.connection_id
    cur = c.cursor()
    cur.execute("SELECT name, REPEAT('abc', 2000) FROM t ORDER BY id LIMIT 3")
    cur.fetchall()
    cur.execute("UPDATE t SET name = 'y' WHERE id = 2")
    c.commit()
    c.close()


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    need("tcpdump", "mariadbd", "mariadb-install-db")
    base = tmp_path_factory.mktemp("mariadb")
    with mariadb_server(base / "srv", ssl=True) as db:
        sc = Scenario()
        mid = pymysql.connect(**db.connect_args(ssl_disabled=True))
        sc.threads["midstream"], sc.ports["midstream"] = mid.thread_id(), _port(mid)
        mid.cursor().execute("SELECT 'before the capture'")
        pcap = base / "mariadb.pcap"
        with tcpdump(pcap, f"tcp port {db.port}", extra=["-B", "65536"], settle=1.0):  # 64 MB: no drops
            off = db.log_offset()
            _run_clients(db, sc, mid)
        log = db.general_log(off)
        port = db.port
    res = pipeline.decode(str(pcap), mysql_ports={port}, want_http=False, sniff_other_ports=False)
    return sc, log, res, pcap, port


_LITERAL = re.compile(r"0x[0-9a-f]+|'(?:[^'\\]|\\.)*'", re.S)


def _binary_as_blob(sql):
    """MariaDB logs a binary parameter as raw escaped bytes, we show it as 0x…: compare them as one token."""
    if sql is None:
        return None
    return _LITERAL.sub(lambda m: "<binary>" if m.group().startswith("0x") or "\ufffd" in m.group()
                        or "\\0" in m.group() else m.group(), sql)


def _by_thread(res) -> dict[int, int]:
    """server thread id → decoder conn id, from the handshakes."""
    return {h.thread_id: h.conn_id for h in res.of_type(MysqlHandshake) if h.thread_id is not None}


def _conn_of(sc, res, role) -> int:
    if role == "midstream":
        port = sc.ports[role]
        return next(s.conn_id for s in res.of_type(SqlStatement) if s.client.endswith(f":{port}"))
    return _by_thread(res)[sc.threads[role]]


def test_every_logged_statement_is_decoded_in_order(capture):
    sc, log, res, _, _ = capture
    stmts = res.of_type(SqlStatement)
    for role, thread in sc.threads.items():
        if role == "tls":
            continue
        conn = _conn_of(sc, res, role)
        want = [(LOG_TO_COMMAND[cmd], _binary_as_blob(arg) if LOG_TO_COMMAND[cmd] in WITH_TEXT else None)
                for t, cmd, arg in log if t == thread and cmd in LOG_TO_COMMAND]
        got = [(s.command, _binary_as_blob(s.sql) if s.command in WITH_TEXT else None)
               for s in stmts if s.conn_id == conn and s.command in {c for c, _ in want} | WITH_TEXT]
        assert len(want) > 1, role
        assert got == want, role


def test_text_protocol_results(capture):
    sc, _, res, _, _ = capture
    conn = _conn_of(sc, res, "text")
    by_sql = {s.sql[:80]: s for s in res.of_type(SqlStatement) if s.conn_id == conn and s.sql}
    ins = by_sql["INSERT INTO t (name) VALUES ('a'), ('b'), ('c')"]
    assert (ins.result, ins.affected_rows, ins.last_insert_id) == ("ok", 3, 1)
    assert ins.info and "Records: 3" in ins.info
    sel = by_sql["SELECT id, name FROM t WHERE name IN ('a', 'b') ORDER BY id"]
    assert (sel.result, sel.rows, sel.columns, sel.row_data) == ("rows", 2, ["id", "name"], [["1", "a"], ["2", "b"]])
    err = by_sql["SELEC oops"]
    assert (err.result, err.error_code, err.sql_state) == ("error", 1064, "42000")
    assert "SQL syntax" in err.error_message
    assert by_sql["SELECT * FROM no_such_table"].error_code == 1146
    multi = by_sql["SELECT 1; UPDATE t SET name = 'z' WHERE id = 1; SELECT 2, 3"]
    assert (multi.results, multi.rows, multi.affected_rows) == (3, 2, 1)
    big = by_sql[f"SELECT seq, 'row' FROM seq_1_to_{BIG_ROWS}"]
    assert big.rows == BIG_ROWS and len(big.row_data) == 20 and big.row_data[-1] == ["20", "row"]
    assert big.latency is not None and big.latency >= 0
    assert big.response_frames[1] > big.response_frames[0] >= big.request_frames[1]
    large = next(s for s in res.of_type(SqlStatement) if s.conn_id == conn and s.sql and s.sql.startswith("INSERT INTO t (name, b)"))
    assert len(large.sql) == sc.big_query_len and large.affected_rows == 1
    infile = next(s for s in by_sql.values() if s.sql.startswith("LOAD DATA LOCAL"))
    assert (infile.result, infile.affected_rows) == ("ok", 50)
    for s in by_sql.values():
        assert not s.incomplete and not s.gap and not s.inferred


def test_prepared_statements_show_their_values(capture):
    sc, log, res, _, _ = capture
    conn = _conn_of(sc, res, "prepared")
    stmts = [s for s in res.of_type(SqlStatement) if s.conn_id == conn]
    ins = next(s for s in stmts if s.command == "COM_STMT_EXECUTE" and s.sql.startswith("INSERT INTO p"))
    got = ins.params
    for (sent, typ), value in zip(PARAMS, got):
        if isinstance(sent, bytes):
            value = value if isinstance(value, bytes) else value.encode()
        assert value == sent, typ
    assert ins.affected_rows == 1 and ins.statement_id is not None
    sel = next(s for s in stmts if s.command == "COM_STMT_EXECUTE" and s.sql.startswith("SELECT i, bi"))
    assert sel.rows == 1
    row = sel.row_data[0]  # binary result row, decoded with the column types
    assert row[0] == 7 and row[1] == -(2 ** 40) and row[2] == 2.5 and row[3] == Decimal("12345.67")
    assert row[6] == dt.date(2024, 2, 29) and row[7] == dt.datetime(2024, 2, 29, 13, 14, 15) and row[8] is None
    prep = [s for s in stmts if s.command == "COM_STMT_PREPARE"]
    assert all(s.result == "ok" and s.statement_id for s in prep)


def test_tls_connection_is_reported_encrypted(capture):
    sc, _, res, _, _ = capture
    hs = next(h for h in res.of_type(MysqlHandshake) if h.thread_id == sc.threads["tls"])
    assert hs.ssl and hs.user is None and hs.result is None
    assert not [s for s in res.of_type(SqlStatement) if s.conn_id == hs.conn_id]


def test_tls_connection_is_decrypted_with_the_key_log(capture):
    """With the client's key log, the statements inside TLS are decoded as the server logged them;
    the handshake is reported once, when the login inside TLS completes it (no event is changed
    after it was emitted)."""
    sc, log, _, pcap, port = capture
    res, emitted = decode_recording([str(pcap)], pipeline.Options(mysql_ports={port}, want_http=False,
                                                                  sniff_other_ports=False, keylog=[sc.keylog]))
    assert list(res.events) == emitted
    hss = [h for h in res.of_type(MysqlHandshake) if h.thread_id == sc.threads["tls"]]
    assert len(hss) == 1
    hs = hss[0]
    assert hs.ssl and hs.user == "gt" and hs.result == "ok" and "TLS decrypted with the key log" in hs.notes
    stmts = [s for s in res.of_type(SqlStatement) if s.conn_id == hs.conn_id]
    want = [arg for t, cmd, arg in log if t == sc.threads["tls"] and cmd == "Query"]
    assert [s.sql for s in stmts if s.command == "COM_QUERY"] == want and len(want) >= 2
    assert all(s.tls for s in stmts)
    sel = next(s for s in stmts if s.sql.startswith("SELECT id, name"))
    assert sel.result == "rows" and sel.rows == 2 and sel.columns == ["id", "name"]
    assert stmts[-1].command == "COM_QUIT"
    # the plaintext connections decode as without the key log
    plain = [s for s in res.of_type(SqlStatement) if s.conn_id != hs.conn_id]
    assert len(plain) == len([s for s in capture[2].of_type(SqlStatement)])


def test_compressed_protocol(capture):
    sc, _, res, _, _ = capture
    hs = next(h for h in res.of_type(MysqlHandshake) if h.thread_id == sc.threads["compressed"])
    assert hs.compressed and hs.result == "ok" and hs.user == "gt" and hs.database == "gt"
    stmts = [s for s in res.of_type(SqlStatement) if s.conn_id == hs.conn_id]
    sel = next(s for s in stmts if s.sql and s.sql.startswith("SELECT name, REPEAT"))
    assert sel.rows == 3 and len(sel.row_data[0][1]) == 256  # cells are capped
    upd = next(s for s in stmts if s.sql and s.sql.startswith("UPDATE"))
    assert upd.affected_rows == 1


def test_midstream_connection_is_inferred(capture):
    sc, _, res, _, _ = capture
    conn = _conn_of(sc, res, "midstream")
    stmts = [s for s in res.of_type(SqlStatement) if s.conn_id == conn]
    assert all(s.inferred for s in stmts)
    sel = next(s for s in stmts if s.sql == "SELECT name FROM t WHERE id = 2")
    assert sel.rows == 1 and sel.row_data == [["b"]]
    assert next(s for s in stmts if s.sql == "DELETE FROM t WHERE id = 3").affected_rows == 1
    assert any(h.inferred for h in res.of_type(MysqlHandshake) if h.conn_id == conn)


def test_auth_data_never_in_events(capture):
    """The password must not appear in any event field (only lengths of auth data)."""
    _, _, res, _, _ = capture
    for e in res.events:
        if isinstance(e, (MysqlHandshake, SqlStatement)):
            assert "gtpw" not in repr(e)
    hs = [h for h in res.of_type(MysqlHandshake) if not h.ssl and not h.inferred]
    assert hs and all(h.auth_length == 20 for h in hs)  # mysql_native_password hash


def test_handshake_without_first_bytes_midstream_cut(capture, tmp_path):
    """Cut the handshakes off with editcap: the same statements still decode, flagged inferred."""
    need("editcap")
    sc, _, res, pcap, port = capture
    full = {(s.client, s.sql) for s in res.of_type(SqlStatement) if s.command == "COM_QUERY"}
    # drop the first 12 frames of each connection... simpler: drop the capture's first 40 frames
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(pcap), str(cut), "40-1000000000"], check=True, capture_output=True)
    res2 = pipeline.decode(str(cut), mysql_ports={port}, want_http=False, sniff_other_ports=False)
    got = res2.of_type(SqlStatement)
    assert got and any(s.inferred for s in got)
    later = {(s.client, s.sql) for s in got if s.command == "COM_QUERY" and not s.gap}
    assert later and later <= full


def test_matches_tshark_queries(capture):
    sc, _, res, pcap, port = capture
    rows = tshark_fields(pcap, "mysql.query", ["tcp.stream", "mysql.command", "mysql.query"],
                         extra=["-d", f"tcp.port=={port},mysql"])
    plain = {_conn_of(sc, res, r) for r in ("text", "prepared")}
    want = [(int(s), int(c), q) for s, c, q in rows if int(s) in plain and len(q) < 1000]
    ours = [(s.conn_id, {"COM_QUERY": 3, "COM_STMT_PREPARE": 22}[s.command], s.sql)
            for s in res.of_type(SqlStatement)
            if s.conn_id in plain and s.command in ("COM_QUERY", "COM_STMT_PREPARE") and len(s.sql) < 1000]
    assert want and ours == want
