"""Client → server: commands, each becoming a SqlStatement that waits for its response."""

from __future__ import annotations

from . import constants as C
from .events import SqlStatement
from .binary_values import LongData, read_value
from .wire import Short, cstring, lenenc_bytes, lenenc_int, text, u16, u32
from .state import _Pending


class _Commands:
    """Part of MysqlDecoder (decoder.py): reading requests."""

    def _client_packet(self, seq, p, ff, fts, lf, lts) -> None:
        if seq != 0:
            # auth data of COM_CHANGE_USER or LOCAL INFILE contents: never kept
            if self.pending:
                ev = self.pending[0].ev
                if ev.request_frames:
                    pass
            return
        if not len(p):
            return
        code = p[0]
        name = C.COMMANDS.get(code)
        if name is None:
            self._note(f"unknown command 0x{code:02x} at frame {ff}")
            return
        if self.resync[1] and self.pending:
            self._flush_pending(incomplete=True)
        ev = self._statement(name, None, fts, request_frames=(ff, lf), inferred=self.inferred,
                             database=self.database, user=self.user)
        try:
            self._request(code, ev, p)
        except (Short, IndexError, ValueError) as e:
            ev.notes.append(f"malformed {name}: {type(e).__name__}")
        if code in C.NO_RESPONSE or code == C.COM_QUIT:
            if code == C.COM_QUIT:
                self._flush_pending(incomplete=True)
            self.out.append(ev)
            return
        self.pending.append(_Pending(ev, code))

    def _flush_pending(self, incomplete: bool) -> None:
        while self.pending:
            ev = self.pending.popleft().ev
            ev.incomplete = ev.incomplete or incomplete
            self.out.append(ev)

    def _request(self, code: int, ev: SqlStatement, p) -> None:
        n = len(p)
        if code == C.COM_QUERY:
            pos = 1
            if self.caps & C.CLIENT_QUERY_ATTRIBUTES or (self.inferred and n > 2 and p[1] < 0x09):
                pos = self._query_attributes(ev, p)
            ev.sql = text(bytes(p[pos:n]))
        elif code in (C.COM_INIT_DB, C.COM_FIELD_LIST, C.COM_CREATE_DB, C.COM_DROP_DB):
            ev.sql = text(cstring(p, 1)[0]) if code == C.COM_FIELD_LIST else text(bytes(p[1:n]))
        elif code == C.COM_STMT_PREPARE:
            ev.sql = text(bytes(p[1:n]))
        elif code in (C.COM_STMT_EXECUTE, C.COM_STMT_BULK_EXECUTE):
            self._execute(ev, p)
        elif code in (C.COM_STMT_CLOSE, C.COM_STMT_RESET, C.COM_STMT_FETCH):
            sid = self._stmt_id(u32(p, 1))
            ev.statement_id = sid
            prep = self.stmts.get(sid)
            ev.sql = prep.sql if prep else None
            if code == C.COM_STMT_CLOSE:
                self.stmts.pop(sid, None)
            elif code == C.COM_STMT_RESET and prep:
                prep.long_data.clear()
        elif code == C.COM_STMT_SEND_LONG_DATA:
            sid = self._stmt_id(u32(p, 1))
            ev.statement_id = sid
            idx = u16(p, 5)
            prep = self.stmts.get(sid)
            ev.sql = prep.sql if prep else None
            if prep is not None:
                prep.long_data.setdefault(idx, LongData()).add(p[7:n])
            ev.notes.append(f"parameter {idx}: {n - 7} bytes")
        elif code == C.COM_SET_OPTION:
            opt = u16(p, 1)
            ev.sql = {0: "MYSQL_OPTION_MULTI_STATEMENTS_ON", 1: "MYSQL_OPTION_MULTI_STATEMENTS_OFF"}.get(opt, str(opt))
        elif code == C.COM_PROCESS_KILL:
            ev.sql = str(u32(p, 1))
        elif code == C.COM_CHANGE_USER:
            user, pos = cstring(p, 1)
            ev.sql = text(user)
            self.user = ev.user = ev.sql
            # auth data (1-byte length with secure connection) is skipped, never kept
            if self.caps & C.CLIENT_SECURE_CONNECTION and pos < n:
                pos += 1 + p[pos]
            else:
                pos = cstring(p, pos)[1]
            if pos < n:
                db, pos = cstring(p, pos)
                self.database = ev.database = text(db) or None

    def _query_attributes(self, ev: SqlStatement, p) -> int:
        """Skip (and keep) COM_QUERY attributes; returns where the SQL text starts."""
        count, pos = lenenc_int(p, 1)
        _sets, pos = lenenc_int(p, pos)
        if not count:
            return pos
        nulls = bytes(p[pos:pos + (count + 7) // 8])
        pos += (count + 7) // 8
        bound = p[pos]
        pos += 1
        if bound != 1:
            return pos
        types, names = [], []
        for _ in range(count):
            types.append((p[pos], bool(p[pos + 1] & 0x80)))
            pos += 2
            nm, pos = lenenc_bytes(p, pos)
            names.append(text(nm))
        attrs = {}
        for i, (typ, uns) in enumerate(types):
            if nulls[i // 8] & (1 << (i % 8)):
                attrs[names[i]] = None
                continue
            v, pos = read_value(p, pos, typ, uns)
            attrs[names[i]] = v
        ev.query_attributes = attrs
        return pos
