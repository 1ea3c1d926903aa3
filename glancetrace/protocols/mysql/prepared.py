"""Prepared statements: COM_STMT_PREPARE's answer, and COM_STMT_EXECUTE's values filled into the SQL."""

from __future__ import annotations

from . import constants as C
from .events import SqlStatement
from .binary_values import read_value, substitute
from .wire import lenenc_bytes, lenenc_int, u16, u32
from .state import _Pending, _Prepared


class _PreparedStatements:
    """Part of MysqlDecoder (decoder.py): prepared statements."""

    def _prepare_ok(self, cur: _Pending, p) -> bool:
        ev = cur.ev
        sid = u32(p, 1)
        ncols, nparams = u16(p, 5), u16(p, 7)
        ev.statement_id = sid
        ev.warnings = u16(p, 10) if len(p) >= 12 else None
        ev.result = "ok"
        prep = _Prepared(ev.sql, nparams, ncols)
        self.stmts[sid] = prep
        self.last_stmt_id = sid
        cur.prep = prep
        cur.pparams, cur.pcols = nparams, ncols
        if nparams:
            cur.state = "params"
            return False
        if ncols:
            cur.state = "pcols"
            return False
        return True

    def _prepare_defs(self, cur: _Pending, p) -> bool:
        is_eof = p[0] == 0xFE and len(p) < 9 if len(p) else False
        if cur.state == "params":
            if cur.pparams > 0:
                if is_eof:  # fewer definitions than announced: take it as the end
                    cur.pparams = 0
                else:
                    cur.pparams -= 1
                    if cur.pparams:
                        return False
                if cur.pparams == 0 and cur.pcols == 0 and self.deprecate_eof:
                    return True
                return False
            # definitions done: an optional EOF, then the columns
            cur.state = "pcols"
            if is_eof:
                self.deprecate_eof = False
                return cur.pcols == 0
            self.deprecate_eof = True
            return self._prepare_defs(cur, p) if cur.pcols else True
        # pcols
        if cur.pcols > 0:
            if is_eof:
                return True
            cur.pcols -= 1
            if cur.pcols == 0 and self.deprecate_eof:
                return True
            return False
        return True  # the EOF after the column definitions

    def _stmt_id(self, sid: int) -> int:
        if sid == 0xFFFFFFFF and self.last_stmt_id is not None:  # MariaDB: the last prepared one
            return self.last_stmt_id
        return sid

    def _execute(self, ev: SqlStatement, p) -> None:
        n = len(p)
        sid = self._stmt_id(u32(p, 1))
        flags = p[5]
        ev.statement_id = sid
        prep = self.stmts.get(sid)
        if prep is None:
            ev.notes.append(f"statement {sid} was prepared before the capture started")
            return
        ev.sql = prep.sql
        count = prep.nparams or 0
        pos = 10
        if self.caps & C.CLIENT_QUERY_ATTRIBUTES and (count or flags & C.PARAMETER_COUNT_AVAILABLE):
            count, pos = lenenc_int(p, pos)
        if not count or pos >= n:
            ev.params = [] if prep.nparams == 0 else None
            return
        nulls = bytes(p[pos:pos + (count + 7) // 8])
        pos += (count + 7) // 8
        bound = p[pos]
        pos += 1
        if bound == 1:
            types = []
            for _ in range(count):
                types.append((p[pos], bool(p[pos + 1] & 0x80)))
                pos += 2
                if self.caps & C.CLIENT_QUERY_ATTRIBUTES:
                    _, pos = lenenc_bytes(p, pos)  # parameter name
            prep.types = types
        types = prep.types
        if types is None or len(types) < count:
            ev.notes.append("parameter types were bound before the capture started")
            return
        params = []
        for i in range(count):
            if nulls[i // 8] & (1 << (i % 8)):
                params.append(None)
                continue
            if i in prep.long_data:
                params.append(prep.long_data[i].value())
                continue
            typ, uns = types[i]
            v, pos = read_value(p, pos, typ, uns)
            params.append(v)
        prep.long_data.clear()
        ev.params = params
        if ev.sql is not None and count == (prep.nparams or count):
            ev.sql = substitute(ev.sql, params)
