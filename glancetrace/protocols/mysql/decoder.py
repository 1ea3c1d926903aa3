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
from .commands import _Commands
from .events import MysqlHandshake, SqlStatement
from .framing import CompressedFramer, PlainFramer
from .login import _Handshake
from .prepared import _PreparedStatements
from .results import _Results
from .state import _Pending, _Prepared
from .wire import text


class MysqlDecoder(_Handshake, _Commands, _PreparedStatements, _Results):
    """One connection; its parts live in login.py, commands.py, prepared.py and results.py."""

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
            if self.phase == "handshake":
                self._handshake_packet(d, seq, payload, ff, fts, lf, lts)
            elif d == 0:
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
