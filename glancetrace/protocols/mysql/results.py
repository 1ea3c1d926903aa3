"""Server → client: the response to the oldest waiting command (OK, ERR, result sets, rows)."""

from __future__ import annotations

from . import constants as C
from .events import SqlStatement
from .binary_values import read_value
from .wire import Short, lenenc_bytes, lenenc_int, text, u16
from .state import _Pending

ROW_CAP = 20  # result rows kept per statement (all are counted)
COLUMN_CAP = 256
CELL_CAP = 256
MARIADB_EXTENDED_METADATA = 1 << 3  # MariaDB capability (extended 32 bits)


class _Results:
    """Part of MysqlDecoder (decoder.py): reading responses."""

    def _server_packet(self, seq, p, ff, fts, lf, lts) -> None:
        if not self.pending:
            if len(self.notes) < 50:
                self.notes.append(f"server packet without request at frame {ff}")
            return
        cur = self.pending[0]
        ev = cur.ev
        if ev.response_frames is None:
            ev.response_frames = (ff, lf)
        else:
            ev.response_frames = (ev.response_frames[0], lf)
        ev.response_time = lts
        if self._response(cur, p, ff):
            self.pending.popleft()
            ev.latency = lts - ev.request_time
            if ev.result is None:
                ev.result = "ok"
            self.out.append(ev)

    def _response(self, cur: _Pending, p, ff) -> bool:
        """Feed one response packet; True when the response is complete."""
        st = cur.state
        if st == "rows":  # the hot state: one packet per row
            n = len(p)
            h = p[0] if n else -1
            if h == 0xFE and n < 0xFFFFFF:
                return self._end_of_rows(cur, p)
            if h == 0xFF:
                self._err(cur.ev, p)
                return True
            cur.ev.rows = (cur.ev.rows or 0) + 1
            if len(cur.ev.row_data) < ROW_CAP:
                self._keep_row(cur, p)
            return False
        if st == "first":
            return self._first(cur, p, ff)
        if st == "cols":
            return self._column(cur, p)
        if st == "cols_eof":
            return self._after_columns(cur, p, ff)
        if st == "fieldlist":
            return self._field_list(cur, p)
        if st == "infile":
            return self._infile(cur, p)
        if st in ("params", "pcols"):
            return self._prepare_defs(cur, p)
        return True

    def _first(self, cur: _Pending, p, ff) -> bool:
        """The response's first packet: OK, ERR, a prepared statement, a command's own answer, or
        the column count of a result set."""
        ev, n = cur.ev, len(p)
        h = p[0] if n else -1
        code = cur.code
        if h == 0x00 and n >= 7 and code != C.COM_STMT_PREPARE:
            return self._ok(cur, p)
        if h == 0xFF:
            self._err(ev, p)
            return True
        if code == C.COM_STMT_PREPARE:
            if h == 0x00 and n >= 12:
                return self._prepare_ok(cur, p)
            ev.notes.append("unexpected prepare response")
            return True
        if code == C.COM_FIELD_LIST:
            cur.state = "fieldlist"
            return self._response(cur, p, ff)
        if code == C.COM_STATISTICS:
            ev.result = "ok"
            ev.notes.append(text(bytes(p[:200])) or "")
            return True
        if code == C.COM_CHANGE_USER:
            return h not in (0xFE, 0x01)  # auth switch / more data: the client answers, then OK/ERR
        if h == 0xFE and n < 9:  # EOF (COM_SET_OPTION, COM_DEBUG, old servers)
            ev.result = "ok"
            ev.warnings = u16(p, 1) if n >= 3 else None
            return True
        if h == 0xFB and code in (C.COM_QUERY,):
            cur.state = "infile"
            ev.notes.append("LOCAL INFILE " + (text(bytes(p[1:300])) or ""))
            return False
        if code in (C.COM_QUERY, C.COM_STMT_EXECUTE, C.COM_STMT_FETCH, C.COM_STMT_BULK_EXECUTE,
                    C.COM_PROCESS_INFO):
            return self._result_set(cur, p, h)
        ev.notes.append(f"unexpected response 0x{h:02x}")
        return True

    def _result_set(self, cur: _Pending, p, h: int) -> bool:
        """A result set begins with its column count (h: its first byte); column definitions follow."""
        ev, n = cur.ev, len(p)
        try:
            ncols, pos = lenenc_int(p, 0)
        except Short:
            ncols = None
        if not ncols:
            ev.notes.append(f"unexpected response 0x{h:02x}")
            return True
        cur.ncols, cur.coldefs, cur.types = ncols, 0, []
        ev.results += 1
        if self.caps & C.CLIENT_OPTIONAL_RESULTSET_METADATA and pos < n and p[pos] == 0:
            cur.state = "cols_eof"
        else:
            cur.state = "cols"
        ev.result = "rows"
        if ev.rows is None:
            ev.rows = 0
        return False

    def _column(self, cur: _Pending, p) -> bool:
        ev = cur.ev
        cur.coldefs += 1
        name, typ = self._coldef(p)
        cur.types.append(typ)
        if cur.first and len(ev.columns) < COLUMN_CAP:  # names of the first result set
            ev.columns.append(name)
        if cur.coldefs >= cur.ncols:
            cur.first = False
            cur.state = "cols_eof"
        return False

    def _after_columns(self, cur: _Pending, p, ff) -> bool:
        """After the column definitions: a classic EOF, or (CLIENT_DEPRECATE_EOF) the first row."""
        n = len(p)
        cur.state = "rows"
        if n and p[0] == 0xFE and n < 9:
            if n <= 5:  # a classic EOF between definitions and rows
                self.deprecate_eof = False
                return False
            self.deprecate_eof = True
            return self._end_of_rows(cur, p)  # no rows, OK-style terminator
        if self.deprecate_eof is None:
            self.deprecate_eof = True
        return self._response(cur, p, ff)

    def _field_list(self, cur: _Pending, p) -> bool:
        n = len(p)
        h = p[0] if n else -1
        if h == 0xFE and n < 9:
            cur.ev.result = "ok"
            return True
        if h == 0xFF:
            self._err(cur.ev, p)
            return True
        name, _ = self._coldef(p)
        if len(cur.ev.columns) < COLUMN_CAP:
            cur.ev.columns.append(name)
        return False

    def _infile(self, cur: _Pending, p) -> bool:
        h = p[0] if len(p) else -1
        if h == 0x00:
            return self._ok(cur, p)
        if h == 0xFF:
            self._err(cur.ev, p)
            return True
        return False

    def _end_of_rows(self, cur: _Pending, p) -> bool:
        n = len(p)
        status = 0
        try:
            if n <= 5:
                status = u16(p, 3) if n >= 5 else 0
            else:
                _, pos = lenenc_int(p, 1)
                _, pos = lenenc_int(p, pos)
                status = u16(p, pos)
        except Short:
            pass
        if status & C.SERVER_MORE_RESULTS_EXISTS:
            cur.state = "first"
            return False
        return True

    def _ok(self, cur: _Pending, p) -> bool:
        ev = cur.ev
        try:
            aff, pos = lenenc_int(p, 1)
            lid, pos = lenenc_int(p, pos)
            status = u16(p, pos)
            warn = u16(p, pos + 2)
            pos += 4
        except Short:
            ev.notes.append("short OK packet")
            ev.result = ev.result or "ok"
            return True
        ev.affected_rows = (ev.affected_rows or 0) + (aff or 0)
        ev.last_insert_id = lid if lid else ev.last_insert_id if ev.last_insert_id else lid
        ev.warnings = (ev.warnings or 0) + warn
        if pos < len(p):
            raw = bytes(p[pos:pos + 512])
            if self.caps & C.CLIENT_SESSION_TRACK:
                try:
                    raw = lenenc_bytes(raw, 0)[0] or b""
                except Short:
                    pass
            info = text(raw)
            if info:
                ev.info = info if ev.info is None else ev.info + "; " + info
        if ev.result != "rows":
            ev.result = "ok"
        ev.results += 1
        if status & C.SERVER_MORE_RESULTS_EXISTS and cur.code in (C.COM_QUERY, C.COM_STMT_EXECUTE):
            cur.state = "first"
            return False
        if cur.code == C.COM_CHANGE_USER:
            self._session_reset()
        if cur.code == C.COM_RESET_CONNECTION:
            self._session_reset()
        if cur.code == C.COM_INIT_DB and ev.sql is not None:
            self.database = ev.sql
        return True

    def _session_reset(self) -> None:
        self.stmts.clear()
        self.last_stmt_id = None

    def _err(self, ev: SqlStatement, p) -> None:
        ev.result = "error"
        n = len(p)
        if n < 3:
            return
        ev.error_code = u16(p, 1)
        if n >= 9 and p[3] == 0x23:  # '#' + 5-char SQL state (protocol 4.1)
            ev.sql_state = bytes(p[4:9]).decode("ascii", "replace")
            ev.error_message = text(bytes(p[9:n]))
        else:
            ev.error_message = text(bytes(p[3:n]))

    def _coldef(self, p) -> tuple[str, int]:
        try:
            pos = 0
            for _ in range(4):  # catalog, schema, table, org_table
                _, pos = lenenc_bytes(p, pos)
            name, pos = lenenc_bytes(p, pos)
            _, pos = lenenc_bytes(p, pos)  # org_name
            if self.ext_caps & MARIADB_EXTENDED_METADATA:
                _, pos = lenenc_bytes(p, pos)
            _, pos = lenenc_int(p, pos)  # length of the fixed fields (0x0c)
            typ = p[pos + 6]
            return text(name) or "", typ
        except (Short, IndexError):
            return "", C.T_VAR_STRING

    def _keep_row(self, cur: _Pending, p) -> None:
        row: list = []
        try:
            if cur.binary:
                nc = len(cur.types)
                pos = 1 + (nc + 9) // 8
                for i, typ in enumerate(cur.types):
                    if p[1 + (i + 2) // 8] & (1 << ((i + 2) % 8)):
                        row.append(None)
                        continue
                    v, pos = read_value(p, pos, typ)
                    row.append(v)
            else:
                pos, n = 0, len(p)
                while pos < n:
                    v, pos = lenenc_bytes(p, pos)
                    row.append(None if v is None else text(v[:CELL_CAP]))
        except (Short, IndexError, ValueError):
            cur.ev.notes.append("undecodable row")
        cur.ev.row_data.append(row)
