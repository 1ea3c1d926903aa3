"""Sans-I/O decoder of one MySQL/MariaDB client/server connection.

Client packets with sequence id 0 start commands; server packets answer the
oldest command still waiting (a small queue, so pipelined clients work).
Each command's response is followed with a small state machine that only
looks at the first byte and length of row packets, so big result sets cost
little.  Without a handshake (capture started mid-connection) the framing
conventions are guessed: compression from the first client bytes, the EOF
convention from the packet lengths (a classic EOF is 5 bytes, the OK packet
that replaces it under CLIENT_DEPRECATE_EOF is at least 7).
"""

from __future__ import annotations

from collections import deque

from . import constants as C
from ..base import SwitchToTls
from .events import MysqlHandshake, SqlStatement
from .framing import CompressedFramer, PlainFramer
from .values import LongData, read_value, substitute
from .wire import Short, cstring, lenenc_bytes, lenenc_int, text, u16, u32

ROW_CAP = 20  # result rows kept per statement (all are counted)
COLUMN_CAP = 256
CELL_CAP = 256
MARIADB_EXTENDED_METADATA = 1 << 3  # MariaDB capability (extended 32 bits)


class _Prepared:
    __slots__ = ("sql", "nparams", "ncols", "types", "long_data")

    def __init__(self, sql: str | None, nparams: int | None = None, ncols: int | None = None):
        self.sql = sql
        self.nparams = nparams
        self.ncols = ncols
        self.types: list[tuple[int, bool]] | None = None  # bound at the last execute
        self.long_data: dict[int, LongData] = {}


_TLS_OPAQUE = "TLS requested: the rest of the connection is encrypted"


class _Pending:
    """A command waiting for (or receiving) its response."""

    __slots__ = ("ev", "code", "state", "ncols", "coldefs", "types", "binary", "prep",
                 "pparams", "pcols", "first")

    def __init__(self, ev: SqlStatement, code: int):
        self.ev = ev
        self.code = code
        self.state = "first"
        self.ncols = 0
        self.coldefs = 0
        self.types: list[int] = []
        self.binary = code in (C.COM_STMT_EXECUTE, C.COM_STMT_FETCH, C.COM_STMT_BULK_EXECUTE)
        self.prep: _Prepared | None = None
        self.pparams = 0
        self.pcols = 0
        self.first = True


class MysqlDecoder:
    def __init__(self, conn_id: int, client: str, server: str, capture: int = 0):
        self.conn_id, self.client, self.server, self.capture = conn_id, client, server, capture
        self.tls = False  # reading the decrypted inside of TLS (after an SSL request)
        self.framers: list = [PlainFramer(), PlainFramer()]
        self.phase = "start"  # start → handshake → command; or tls / inferred command
        self._start_buf = bytearray()  # the server's first bytes, until there are enough to judge
        self._start_at = (0, 0.0)
        self.inferred = False
        self.caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION  # negotiated (guessed until seen)
        self.ext_caps = 0  # MariaDB's extra capability word
        self.hs: MysqlHandshake | None = None
        self.hs_done = False
        self.compressed = False
        self.deprecate_eof: bool | None = None
        self.pending: deque[_Pending] = deque()
        self.stmts: dict[int, _Prepared] = {}
        self.last_stmt_id: int | None = None
        self.resync = [False, False]
        self._carry = b""  # client bytes held while resynchronising (fewer than a command header)
        self.user: str | None = None
        self.database: str | None = None
        self.notes: list[str] = []
        self.out: list = []
        self.closed = False

    # -- public API -------------------------------------------------------------

    def feed(self, direction: int, data, ts: float, frame: int) -> list:
        if self.closed or not len(data):
            return []
        self.out = out = []
        try:
            self._feed(direction, data, ts, frame)
        except Exception as e:  # never raise out of the API: note it and resynchronise
            self._note(f"decoder error at frame {frame}: {type(e).__name__}: {e}")
            self.framers[direction].reset()
            self.resync[direction] = True
        return out

    def gap(self, direction: int, nbytes: int, ts: float, frame: int) -> list:
        self.out = out = []
        if self.closed or self.phase == "tls":
            return out
        self._note(f"{nbytes} bytes missing {'client→server' if direction == 0 else 'server→client'} at frame {frame}")
        framer = self.framers[direction]
        if self.phase in ("start", "handshake"):
            # a hole in the handshake (snaplen cuts every packet) means its packets never complete:
            # go on as for a capture begun mid-connection instead of waiting for them forever
            if self.hs is not None:
                self.hs.notes.append(f"handshake cut by a capture gap of {nbytes} bytes")
            self.phase = "command"
            self.inferred = True
            self.resync = [True, True]
        if direction == 0 and self.phase == "command" and not self.resync[0]:
            self._truncated_request(framer, frame, "request truncated by a capture gap")
        framer.reset()
        if direction == 0:
            self._carry = b""
        self.resync[direction] = True
        for p in self.pending:
            p.ev.gap = True
        if direction == 1 and self.pending and self.pending[0].ev.response_frames is not None:
            # the response under way lost bytes: it cannot be followed any more
            ev = self.pending.popleft().ev
            ev.incomplete = True
            out.append(ev)
        return out

    def _truncated_request(self, framer, frame: int, note: str, gap: bool = True) -> bool:
        """A request cut by a gap (or by the end of the connection) still becomes a statement,
        so its response is paired and the loss shows."""
        inner = framer.inner if isinstance(framer, CompressedFramer) else framer
        head = bytes(inner.buf[:4096])
        if len(head) < 6 or head[3] != 0 or head[4] not in (C.COM_QUERY, C.COM_STMT_PREPARE):
            return False
        ev = self._statement(C.COMMANDS[head[4]], text(head[5:]), inner.bts, request_frames=(inner.bframe, frame),
                             inferred=self.inferred, database=self.database, user=self.user,
                             gap=gap, incomplete=True)
        ev.notes.append(note)
        self.pending.append(_Pending(ev, head[4]))
        return True

    def close(self, ts: float, frame: int, reason: str = "") -> list:
        self.out = out = []
        if self.closed:
            return out
        self.closed = True
        # bytes held for a packet that never completed (its length field points past the end of
        # the stream) would otherwise vanish without a trace
        if self.phase == "command":
            for d, framer in enumerate(self.framers):
                held = framer.pending
                if not held:
                    continue
                inner = framer.inner if isinstance(framer, CompressedFramer) else framer
                claims = f" that claims {inner.need - 4} bytes" if len(inner.buf) >= 4 else ""
                note = f"connection ended ({reason or 'close'}) {held} bytes into an unfinished " \
                       f"{'client' if d == 0 else 'server'} packet{claims}"
                if d == 0 and not self.resync[0] and self._truncated_request(framer, frame, note, gap=False):
                    continue
                self._note(note)
        for p in self.pending:
            p.ev.incomplete = True
            if p.ev.response_frames is not None and p.ev.result is None:
                p.ev.notes.append("response cut off")
            out.append(p.ev)
        self.pending.clear()
        if self.hs is not None and not self.hs_done:
            self.hs_done = True
            out.append(self.hs)
        elif self.hs is None and self.inferred:
            caps = self.caps
            if self.deprecate_eof:
                caps |= C.CLIENT_DEPRECATE_EOF
            if self.compressed:
                caps |= C.CLIENT_COMPRESS
            out.append(MysqlHandshake(self.conn_id, self.client, self.server, ts, (frame, frame),
                                      capabilities=caps, compressed=self.compressed, inferred=True,
                                      capture=self.capture))
        return out

    # -- plumbing ---------------------------------------------------------------

    def _statement(self, command: str, sql: str | None, ts: float, **kw) -> SqlStatement:
        return SqlStatement(self.conn_id, self.client, self.server, command, sql, ts,
                            tls=self.tls, capture=self.capture, **kw)

    def _note(self, msg: str) -> None:
        if len(self.notes) < 50:
            self.notes.append(msg)
        if self.pending:
            self.pending[0].ev.notes.append(msg)

    def _feed(self, d: int, data, ts: float, frame: int) -> None:
        if self.phase == "tls":
            return
        first_frame, first_ts = frame, ts
        if self.phase == "start":
            if d == 1:
                # a greeting is told by its first 6 bytes: a segment may bring fewer
                if not self._start_buf:
                    self._start_at = (frame, ts)
                self._start_buf += data
                if len(self._start_buf) < 6:
                    return
                data = bytes(self._start_buf)
                self._start_buf = bytearray()
                first_frame, first_ts = self._start_at
            self._start(d, data)
            if self.phase == "start":
                return  # still nothing to anchor on
        if self.resync[d]:
            data = self._resync(d, data)
            if data is None:
                return
        for seq, payload, ff, fts, lf, lts in self.framers[d].feed(data, first_frame, first_ts, frame, ts):
            if d == 0:
                self._client_packet(seq, payload, ff, fts, lf, lts)
            else:
                self._server_packet(seq, payload, ff, fts, lf, lts)
            if self.phase == "tls":
                return

    def _start(self, d: int, data) -> None:
        """First bytes of the connection: a server greeting, or a capture begun mid-way."""
        b = bytes(data[:64])
        if d == 1 and len(b) >= 6 and b[3] == 0 and b[4] in (10, 9, 0xFF):
            self.phase = "handshake"
            return
        self.phase = "command"
        self.inferred = True
        if d == 1:  # a response to a request we never saw: wait for the next request
            self.resync[1] = True
            self.resync[0] = True
        else:
            self.resync[0] = True

    def _resync(self, d: int, data):
        """After a gap or at a mid-stream start: find where packets begin again."""
        if d == 1:
            if not self.pending or self.resync[0]:
                return None  # wait until a request tells where its response starts
            b = bytes(data)
            pos = self._find_response(b)
            if pos is None:
                return None
            self.resync[1] = False
            return memoryview(b)[pos:]
        b = self._carry + bytes(data)
        self._carry = b""
        if len(b) < 5:
            # too short to judge a command header yet (a segment may carry a single byte): keep it,
            # or the same stream cut differently would resynchronise elsewhere
            self._carry = b
            return None
        if self.inferred and not self.compressed and self._looks_compressed(b):
            self.compressed = True
            self.framers = [CompressedFramer(), CompressedFramer()]
            self._note("compressed protocol detected in stream")
        pos = self._find_command(b)
        if pos is None:
            return None
        self.resync[0] = False
        return memoryview(b)[pos:]

    def _looks_compressed(self, b: bytes) -> bool:
        if len(b) < 11:
            return False
        clen = int.from_bytes(b[0:3], "little")
        ulen = int.from_bytes(b[4:7], "little")
        if 7 + clen > len(b) + 65536:
            return False
        body = b[7:7 + clen]
        if ulen:
            import zlib
            try:
                body = zlib.decompressobj().decompress(body, 16)
            except zlib.error:
                return False
        return len(body) >= 5 and body[3] == 0 and body[4] in C.COMMANDS and \
            int.from_bytes(body[0:3], "little") + 4 <= max(ulen, clen)

    def _find_response(self, b: bytes) -> int | None:
        """Offset where a response plausibly starts: a chain of packets ending with b."""
        hdr = 7 if self.compressed else 4
        for start in range(0, min(len(b) - hdr, 8192) + 1):
            pos, count = start, 0
            while pos + hdr <= len(b):
                ln = int.from_bytes(b[pos:pos + 3], "little")
                if count == 0 and (ln == 0 or (not self.compressed and b[pos + 3] != 1)):
                    break
                pos += hdr + ln
                count += 1
            if count and pos == len(b):
                return start
        return None

    def _find_command(self, b: bytes) -> int | None:
        """Offset of a plausible command packet (or compressed packet) start in b."""
        hdr = 7 if self.compressed else 4
        # a plain candidate needs its command byte too (b[pos + 4]): stop one byte earlier
        last = len(b) - hdr - (0 if self.compressed else 1)
        for pos in range(0, min(last, 8192) + 1):
            if self.compressed:
                if b[pos + 3] != 0 and pos:
                    continue
                clen = int.from_bytes(b[pos:pos + 3], "little")
                if pos + 7 + clen == len(b) or (pos == 0 and clen < (1 << 24)):
                    return pos
                continue
            ln = int.from_bytes(b[pos:pos + 3], "little")
            # COM_SLEEP (0x00) is the server's own state, never sent by a client: runs of zero
            # bytes (handshake filler, binary parameters) must not anchor a command
            if b[pos + 3] != 0 or ln == 0 or not b[pos + 4] or b[pos + 4] not in C.COMMANDS:
                continue
            if pos + 4 + ln == len(b) or (pos == 0 and ln < (1 << 24)):
                return pos
        return None

    # -- server → client --------------------------------------------------------

    def _server_packet(self, seq, p, ff, fts, lf, lts) -> None:
        if self.phase == "handshake":
            try:
                self._server_handshake(seq, p, ff, fts, lf, lts)
            except (Short, IndexError, ValueError) as e:  # a damaged handshake packet, as for requests
                self._handshake_damaged("server", ff, e)
            return
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
        ev = cur.ev
        n = len(p)
        h = p[0] if n else -1
        st = cur.state
        if st == "rows":
            if h == 0xFE and n < 0xFFFFFF:
                return self._end_of_rows(cur, p)
            if h == 0xFF:
                self._err(ev, p)
                return True
            ev.rows = (ev.rows or 0) + 1
            if len(ev.row_data) < ROW_CAP:
                self._keep_row(cur, p)
            return False
        if st == "first":
            if h == 0x00 and n >= 7 and cur.code != C.COM_STMT_PREPARE:
                return self._ok(cur, p)
            if h == 0xFF:
                self._err(ev, p)
                return True
            code = cur.code
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
                if h in (0xFE, 0x01):  # auth switch / more data: the client answers, then OK/ERR
                    return False
                return True
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
            ev.notes.append(f"unexpected response 0x{h:02x}")
            return True
        if st == "cols":
            cur.coldefs += 1
            name, typ = self._coldef(p)
            cur.types.append(typ)
            if cur.first and len(ev.columns) < COLUMN_CAP:  # names of the first result set
                ev.columns.append(name)
            if cur.coldefs >= cur.ncols:
                cur.first = False
                cur.state = "cols_eof"
            return False
        if st == "cols_eof":
            cur.state = "rows"
            if h == 0xFE and n < 9:
                if n <= 5:  # a classic EOF between definitions and rows
                    self.deprecate_eof = False
                    return False
                self.deprecate_eof = True
                return self._end_of_rows(cur, p)  # no rows, OK-style terminator
            if self.deprecate_eof is None:
                self.deprecate_eof = True
            return self._response(cur, p, ff)
        if st == "fieldlist":
            if h == 0xFE and n < 9:
                ev.result = "ok"
                return True
            if h == 0xFF:
                self._err(ev, p)
                return True
            name, _ = self._coldef(p)
            if len(ev.columns) < COLUMN_CAP:
                ev.columns.append(name)
            return False
        if st == "infile":
            if h == 0x00:
                return self._ok(cur, p)
            if h == 0xFF:
                self._err(ev, p)
                return True
            return False
        if st in ("params", "pcols"):
            return self._prepare_defs(cur, p)
        return True

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

    # -- client → server --------------------------------------------------------

    def _client_packet(self, seq, p, ff, fts, lf, lts) -> None:
        if self.phase == "handshake":
            try:
                self._client_handshake(seq, p, ff, fts, lf, lts)
            except (Short, IndexError, ValueError) as e:  # a damaged handshake packet, as for requests
                self._handshake_damaged("client", ff, e)
            return
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

    def _stmt_id(self, sid: int) -> int:
        if sid == 0xFFFFFFFF and self.last_stmt_id is not None:  # MariaDB: the last prepared one
            return self.last_stmt_id
        return sid

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

    # -- connection phase -------------------------------------------------------

    def _server_handshake(self, seq, p, ff, fts, lf, lts) -> None:
        hs = self.hs
        n = len(p)
        h = p[0] if n else -1
        if hs is None:
            hs = self.hs = MysqlHandshake(self.conn_id, self.client, self.server, fts, (ff, lf), capture=self.capture)
            if h == 0xFF:  # refused before the greeting (host not allowed, too many connections)
                ev = self._statement("COM_CONNECT", None, fts)
                self._err(ev, p)
                hs.result, hs.error_code, hs.error_message = "error", ev.error_code, ev.error_message
                self._end_handshake(lf)
                return
            self._greeting(hs, p)
            return
        hs.frames = (hs.frames[0], lf)
        if h == 0x00:
            hs.result = "ok"
            self._end_handshake(lf)
            if self.caps & C.CLIENT_COMPRESS:
                self.compressed = hs.compressed = True
                self.framers = [CompressedFramer(), CompressedFramer()]
        elif h == 0xFF:
            ev = self._statement("COM_CONNECT", None, fts)
            self._err(ev, p)
            hs.result, hs.error_code, hs.error_message = "error", ev.error_code, ev.error_message
            self._end_handshake(lf)
        elif h == 0xFE:
            if n > 1:
                plugin, _ = cstring(p, 1)
                hs.auth_plugin = text(plugin)  # the switch target; its data (a scramble) is not kept
            hs.notes.append(f"auth switch to {hs.auth_plugin}")
        elif h == 0x01:
            hs.notes.append(f"auth more data ({n - 1} bytes)")

    def _handshake_damaged(self, side: str, frame: int, e: Exception) -> None:
        note = f"malformed {side} handshake packet at frame {frame}: {type(e).__name__}"
        if self.hs is not None:
            self.hs.notes.append(note)
        else:
            self._note(note)

    def _end_handshake(self, lf) -> None:
        self.phase = "command"
        if not self.hs_done:
            self.hs_done = True
            self.out.append(self.hs)

    def inside_tls(self) -> "MysqlDecoder":
        """The TLS after the SSL request (`SwitchToTls`) could be decrypted: its bytes come back
        here, starting with the client's login (the greeting was in clear), which completes the
        handshake (user, result)."""
        self.phase = "handshake"
        self.tls = True
        self.framers = [PlainFramer(), PlainFramer()]
        hs = self.hs
        if hs is not None:
            hs.client_capabilities = None
            hs.notes = [n for n in hs.notes if n != _TLS_OPAQUE] + ["TLS decrypted with the key log"]
        return self

    def _greeting(self, hs: MysqlHandshake, p) -> None:
        if not len(p):  # a zero-length packet where the greeting should be: nothing to read
            hs.notes.append("empty greeting packet")
            return
        if p[0] != 10:
            hs.notes.append(f"protocol version {p[0]}")
        ver, pos = cstring(p, 1)
        hs.server_version = text(ver) or ""
        hs.thread_id = u32(p, pos)
        pos += 4 + 8 + 1  # scramble part 1 (not kept) and filler
        caps = u16(p, pos)
        pos += 2
        if pos + 16 <= len(p):
            hs.charset = p[pos]
            caps |= u16(p, pos + 3) << 16
            scramble_len = p[pos + 5]
            self.ext_caps = u32(p, pos + 12) if not caps & C.CLIENT_LONG_PASSWORD else 0
            pos += 16
            if caps & C.CLIENT_SECURE_CONNECTION:
                pos += max(13, scramble_len - 8)
            if caps & C.CLIENT_PLUGIN_AUTH and pos < len(p):
                hs.auth_plugin = text(cstring(p, pos)[0])
        hs.server_capabilities = caps
        self.caps = caps

    def _client_handshake(self, seq, p, ff, fts, lf, lts) -> None:
        hs = self.hs
        if hs is None:
            return
        hs.frames = (hs.frames[0], lf)
        if hs.client_capabilities is not None:
            return  # auth data (switch / more data answers): never kept
        n = len(p)
        caps = u16(p, 0)
        if caps & C.CLIENT_PROTOCOL_41:
            caps = u32(p, 0)
            pos = 32
            if not self.caps & C.CLIENT_LONG_PASSWORD and n >= 32:
                self.ext_caps &= u32(p, 28)
            else:
                self.ext_caps = 0
        else:
            pos = 5
        hs.client_capabilities = caps
        self.caps &= caps
        if not self.caps & C.CLIENT_PROTOCOL_41:
            self.caps &= ~C.CLIENT_SECURE_CONNECTION
        hs.capabilities = self.caps
        if caps & C.CLIENT_SSL and n <= pos:
            # SSL request: the rest of the connection is TLS
            hs.ssl = True
            hs.result = None
            hs.notes.append(_TLS_OPAQUE)
            # the handshake event waits for the login inside TLS, or for the close when the TLS
            # stays opaque: events do not change once emitted
            self.phase = "tls"
            if not self.tls:
                self.out.append(SwitchToTls(self.conn_id, self.client, self.server, lts, lf,
                                            capture=self.capture))
            return
        user, pos = cstring(p, pos)
        hs.user = self.user = text(user)
        if caps & C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
            alen, pos = lenenc_int(p, pos)
            pos += alen or 0
        elif caps & C.CLIENT_SECURE_CONNECTION and pos < n:
            alen = p[pos]
            pos += 1 + alen
        else:
            auth, pos = cstring(p, pos)
            alen = len(auth)
        hs.auth_length = alen
        if caps & C.CLIENT_CONNECT_WITH_DB and pos < n:
            db, pos = cstring(p, pos)
            hs.database = self.database = text(db) or None
        if caps & C.CLIENT_PLUGIN_AUTH and pos < n:
            plugin, pos = cstring(p, pos)
            hs.auth_plugin = text(plugin) or hs.auth_plugin
        if caps & C.CLIENT_CONNECT_ATTRS and pos < n:
            try:
                total, pos = lenenc_int(p, pos)
                end = min(n, pos + (total or 0))
                attrs = {}
                while pos < end:
                    k, pos = lenenc_bytes(p, pos)
                    v, pos = lenenc_bytes(p, pos)
                    attrs[text(k)] = text(v)
                hs.connect_attrs = attrs
            except Short:
                pass
