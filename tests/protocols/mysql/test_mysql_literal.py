"""The MySQL decoder fed hand-written bytes, as h11's tests are: each packet is spelled out
here from the protocol documentation, so a field decoded from the wrong offset fails.

Only the public interface is used (MysqlDecoder's feed/gap/close and the event classes).
"""

from __future__ import annotations

import struct

from glancetrace.protocols.mysql import MysqlDecoder, MysqlHandshake, SqlStatement

CLIENT = "10.0.0.1:40000"
SERVER = "10.0.0.2:3306"

LONG_PASSWORD, CONNECT_WITH_DB, PROTOCOL_41 = 1 << 0, 1 << 3, 1 << 9
TRANSACTIONS, SECURE_CONNECTION, MULTI_RESULTS = 1 << 13, 1 << 15, 1 << 17
PLUGIN_AUTH, CONNECT_ATTRS, LENENC_AUTH, DEPRECATE_EOF = 1 << 19, 1 << 20, 1 << 21, 1 << 24
BASE_CAPS = (LONG_PASSWORD | CONNECT_WITH_DB | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION
             | MULTI_RESULTS | PLUGIN_AUTH | CONNECT_ATTRS | LENENC_AUTH)

T_LONGLONG, T_VAR_STRING = 0x08, 0xFD


def packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def lenenc(n: int) -> bytes:
    return bytes([n]) if n < 251 else b"\xfc" + struct.pack("<H", n)


def lstr(s: bytes) -> bytes:
    return lenenc(len(s)) + s


def greeting(caps: int) -> bytes:
    return packet(0, b"\x0a" + b"10.11.6-MariaDB-log\x00" + struct.pack("<I", 77) + b"abcdefgh\x00"
                  + struct.pack("<H", caps & 0xFFFF) + b"\x2d" + struct.pack("<H", 2)
                  + struct.pack("<H", caps >> 16) + b"\x15" + b"\x00" * 6 + b"\x00" * 4
                  + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")


def login(caps: int) -> bytes:
    attrs = lstr(b"_client_name") + lstr(b"pymysql") + lstr(b"_pid") + lstr(b"4242")
    return packet(1, struct.pack("<IIB", caps, 1 << 24, 0x2d) + b"\x00" * 23 + b"glance\x00"
                  + lstr(bytes(range(20))) + b"glance\x00" + b"mysql_native_password\x00"
                  + lstr(attrs))


def ok(seq: int, affected: int = 0, insert_id: int = 0, info: bytes = b"", status: int = 2) -> bytes:
    return packet(seq, b"\x00" + lenenc(affected) + lenenc(insert_id) + struct.pack("<HH", status, 0) + info)


def eof(seq: int, status: int = 2) -> bytes:
    return packet(seq, b"\xfe" + struct.pack("<HH", 0, status))


def eof_ok(seq: int, status: int = 2) -> bytes:
    """The OK packet with an EOF header that ends rows under CLIENT_DEPRECATE_EOF."""
    return packet(seq, b"\xfe" + lenenc(0) + lenenc(0) + struct.pack("<HH", status, 0))


def coldef(seq: int, name: bytes, typ: int) -> bytes:
    return packet(seq, lstr(b"def") + lstr(b"glance") + lstr(b"images") + lstr(b"images")
                  + lstr(name) + lstr(name) + b"\x0c" + struct.pack("<HIBHB", 0x21, 255, typ, 0, 0) + b"\x00\x00")


def query(seq: int, sql: bytes, code: int = 0x03) -> bytes:
    return packet(seq, bytes([code]) + sql)


class Conn:
    """Feeds one decoder, a packet at a time, each with its own time and frame number."""

    def __init__(self):
        self.dec = MysqlDecoder(7, CLIENT, SERVER)
        self.events: list = []
        self.frame = 0

    def send(self, direction: int, *packets: bytes) -> None:
        for p in packets:
            self.frame += 1
            self.events += self.dec.feed(direction, p, 100.0 + self.frame / 10, self.frame)

    def close(self) -> list:
        self.events += self.dec.close(200.0, self.frame + 1, "fin")
        return self.events

    def statements(self) -> list[SqlStatement]:
        return [e for e in self.events if isinstance(e, SqlStatement)]


def logged_in(caps: int = BASE_CAPS | DEPRECATE_EOF) -> Conn:
    c = Conn()
    c.send(1, greeting(caps))
    c.send(0, login(caps))
    c.send(1, ok(2))
    return c


def test_greeting_login_and_ok():
    c = logged_in()
    (hs,) = c.events
    assert isinstance(hs, MysqlHandshake)
    assert (hs.server_version, hs.thread_id, hs.charset) == ("10.11.6-MariaDB-log", 77, 0x2d)
    assert (hs.user, hs.database, hs.auth_plugin, hs.auth_length) == ("glance", "glance", "mysql_native_password", 20)
    assert hs.connect_attrs == {"_client_name": "pymysql", "_pid": "4242"}
    assert hs.result == "ok" and not hs.inferred and not hs.ssl
    assert hs.capabilities == BASE_CAPS | DEPRECATE_EOF and hs.frames == (1, 3) and hs.time == 100.1


def test_query_and_its_ok():
    c = logged_in()
    c.send(0, query(0, b"UPDATE images SET status='saving' WHERE images.id = 'x' AND images.status = 'queued'"))
    c.send(1, ok(1, affected=1, info=b"Rows matched: 1  Changed: 1  Warnings: 0"))
    (st,) = c.statements()
    assert (st.command, st.result, st.affected_rows, st.last_insert_id) == ("COM_QUERY", "ok", 1, 0)
    assert st.sql.startswith("UPDATE images SET status='saving'") and st.sql.endswith("'queued'")
    assert st.info == "Rows matched: 1  Changed: 1  Warnings: 0"
    assert (st.user, st.database) == ("glance", "glance")
    assert st.request_frames == (4, 4) and st.response_frames == (5, 5)
    assert abs(st.latency - 0.1) < 1e-9 and not st.incomplete and not st.inferred


def test_insert_reports_its_id():
    c = logged_in()
    c.send(0, query(0, b"INSERT INTO image_locations (image_id, value) VALUES ('x', 'file:///x')"))
    c.send(1, ok(1, affected=1, insert_id=300))
    (st,) = c.statements()
    assert (st.affected_rows, st.last_insert_id) == (1, 300)


def test_result_set_with_deprecate_eof():
    c = logged_in()
    c.send(0, query(0, b"SELECT id, size FROM images"))
    c.send(1, packet(1, lenenc(2)), coldef(2, b"id", T_VAR_STRING), coldef(3, b"size", T_LONGLONG),
           packet(4, lstr(b"a1") + lstr(b"1024")), packet(5, lstr(b"b2") + b"\xfb"), eof_ok(6))
    (st,) = c.statements()
    assert (st.result, st.rows, st.columns) == ("rows", 2, ["id", "size"])
    assert st.row_data == [["a1", "1024"], ["b2", None]]
    assert st.response_frames == (5, 10)


def test_result_set_with_classic_eof_packets():
    """No CLIENT_DEPRECATE_EOF: an EOF after the definitions and one after the rows."""
    c = logged_in(BASE_CAPS)
    c.send(0, query(0, b"SELECT name FROM images"))
    c.send(1, packet(1, lenenc(1)), coldef(2, b"name", T_VAR_STRING), eof(3),
           packet(4, lstr(b"cirros")), eof(5))
    c.send(0, query(0, b"SELECT 1"))
    c.send(1, packet(1, lenenc(1)), coldef(2, b"1", T_LONGLONG), eof(3), packet(4, lstr(b"1")), eof(5))
    first, second = c.statements()
    assert (first.rows, first.row_data, first.columns) == (1, [["cirros"]], ["name"])
    assert (second.sql, second.rows, second.row_data) == ("SELECT 1", 1, [["1"]])


def test_err_packet():
    c = logged_in()
    c.send(0, query(0, b"SELECT * FROM nope"))
    c.send(1, packet(1, b"\xff" + struct.pack("<H", 1146) + b"#42S02" + b"Table 'glance.nope' doesn't exist"))
    (st,) = c.statements()
    assert (st.result, st.error_code, st.sql_state) == ("error", 1146, "42S02")
    assert st.error_message == "Table 'glance.nope' doesn't exist"


def test_login_refused():
    c = Conn()
    c.send(1, greeting(BASE_CAPS))
    c.send(0, login(BASE_CAPS))
    c.send(1, packet(2, b"\xff" + struct.pack("<H", 1045) + b"#28000"
                     + b"Access denied for user 'glance'@'10.0.0.1' (using password: YES)"))
    (hs,) = [e for e in c.events if isinstance(e, MysqlHandshake)]
    assert (hs.result, hs.error_code) == ("error", 1045)
    assert hs.error_message.startswith("Access denied for user 'glance'")


def _prepare(c: Conn, deprecate_eof: bool) -> None:
    c.send(0, query(0, b"SELECT id FROM images WHERE owner = ? AND size > ?", code=0x16))
    params = [coldef(2, b"?", T_VAR_STRING), coldef(3, b"?", T_LONGLONG)]
    cols = [coldef(5 if not deprecate_eof else 4, b"id", T_VAR_STRING)]
    ok_prep = packet(1, b"\x00" + struct.pack("<IHHBH", 5, 1, 2, 0, 0))
    if deprecate_eof:
        c.send(1, ok_prep, *params, *cols)
    else:
        c.send(1, ok_prep, *params, eof(4), *cols, eof(6))


def _execute(c: Conn) -> None:
    values = lstr(b"admin") + struct.pack("<q", 1 << 33)
    c.send(0, packet(0, b"\x17" + struct.pack("<IBI", 5, 0, 1) + b"\x00" + b"\x01"
                     + bytes([T_VAR_STRING, 0, T_LONGLONG, 0]) + values))


def test_prepare_then_execute_fills_in_the_values():
    for deprecate_eof in (True, False):
        c = logged_in(BASE_CAPS | (DEPRECATE_EOF if deprecate_eof else 0))
        _prepare(c, deprecate_eof)
        _execute(c)
        # binary result row: header, NULL bitmap (offset 2), the string
        rows = [packet(1, lenenc(1)), coldef(2, b"id", T_VAR_STRING)]
        rows += [] if deprecate_eof else [eof(3)]
        rows += [packet(4, b"\x00\x00" + lstr(b"img-1")), eof_ok(5) if deprecate_eof else eof(5)]
        c.send(1, *rows)
        prep, ex = c.statements()
        assert (prep.command, prep.statement_id, prep.result) == ("COM_STMT_PREPARE", 5, "ok")
        assert prep.sql == "SELECT id FROM images WHERE owner = ? AND size > ?"
        assert (ex.command, ex.statement_id, ex.params) == ("COM_STMT_EXECUTE", 5, ["admin", 1 << 33])
        assert ex.sql == "SELECT id FROM images WHERE owner = 'admin' AND size > 8589934592"
        assert (ex.result, ex.rows, ex.row_data) == ("rows", 1, [["img-1"]]), deprecate_eof


def test_execute_answered_by_ok_and_close_has_no_answer():
    c = logged_in()
    _prepare(c, True)
    _execute(c)
    c.send(1, ok(1, affected=3))
    c.send(0, packet(0, b"\x19" + struct.pack("<I", 5)))  # COM_STMT_CLOSE: no response
    _, ex, close = c.statements()
    assert (ex.result, ex.affected_rows) == ("ok", 3)
    assert (close.command, close.statement_id, close.result) == ("COM_STMT_CLOSE", 5, None)
    assert close.sql == "SELECT id FROM images WHERE owner = ? AND size > ?"


def test_multi_results_follow_more_results_flag():
    c = logged_in()
    c.send(0, query(0, b"CALL p()"))
    c.send(1, packet(1, lenenc(1)), coldef(2, b"n", T_LONGLONG), packet(3, lstr(b"7")),
           eof_ok(4, status=2 | 0x0008), ok(5, affected=0))
    (st,) = c.statements()
    assert (st.results, st.rows, st.row_data) == (2, 1, [["7"]])


def test_packet_split_across_segments_and_pipelined_queries():
    c = logged_in()
    stream = query(0, b"SELECT 1") + query(0, b"COMMIT")
    c.send(0, stream[:3], stream[3:11], stream[11:])
    answer = packet(1, lenenc(1)) + coldef(2, b"1", T_LONGLONG) + packet(3, lstr(b"1")) + eof_ok(4) + ok(1)
    c.send(1, answer[:7], answer[7:])
    first, second = c.statements()
    assert (first.sql, first.rows, second.sql, second.result) == ("SELECT 1", 1, "COMMIT", "ok")


def test_gap_in_a_response_marks_it_and_the_next_command_decodes():
    c = logged_in()
    c.send(0, query(0, b"SELECT id FROM images"))
    c.send(1, packet(1, lenenc(1)), coldef(2, b"id", T_VAR_STRING))
    c.events += c.dec.gap(1, 300, 101.0, 99)
    c.send(0, query(0, b"COMMIT"))
    c.send(1, ok(1))
    lost, commit = c.statements()
    assert lost.gap and lost.incomplete and lost.sql == "SELECT id FROM images"
    assert (commit.sql, commit.result) == ("COMMIT", "ok")


def test_quit_and_unanswered_query_at_close():
    c = logged_in()
    c.send(0, query(0, b"SELECT SLEEP(100)"))
    c.close()
    (st,) = c.statements()
    assert st.incomplete and st.result is None and st.response_frames is None


def test_capture_started_mid_connection_infers_the_conventions():
    c = Conn()
    c.send(0, query(0, b"SELECT status FROM images"))
    c.send(1, packet(1, lenenc(1)), coldef(2, b"status", T_VAR_STRING), packet(3, lstr(b"active")), eof_ok(4))
    (st,) = c.statements()
    assert st.inferred and (st.rows, st.row_data) == (1, [["active"]])
