"""Sans-I/O HTTP/1.x decoder for one connection (plain TCP or decrypted TLS).

Each direction has its own message parser (`_Half`), a small state machine
that frames messages (Content-Length, chunked, read-until-close, no body) and
streams bodies into a BodySink without buffering them.  Requests queue up in
`waiting` until a response claims them (FIFO: HTTP/1.1 answers in order, so
pipelining needs nothing more).  A transaction is emitted once both its
request and its response are over, or at gap/close when that can no longer
happen.

Capture gaps: inside a body of known length they are only counted.  Anywhere
else the parser loses the framing and scans for the next request line (client
side) / status line (server side).  A gap while a side is between messages
means at least one whole message was lost: a lost request gets a placeholder
in the queue, a lost response closes the oldest waiting request, so later
pairs do not drift.
"""

from __future__ import annotations

from collections import deque

from .body import BodySink
from .digests import Hashing, InlineHashing
from .events import BodyInfo, HttpTransaction
from .head import HEAD_END, REQUEST_LINE, STATUS_LINE, header_map, parse_headers
from .half import (CHUNK_DATA, CHUNK_END, CHUNK_SIZE, HEAD, HEAD_MAX, LENGTH, LINE_MAX, OPAQUE, RESYNC,
                   TRAILER, UNTIL_CLOSE, _Half)
from .sync import _Sync


class HttpDecoder(_Sync):
    """One connection; losing and finding sync, and gaps, are in sync.py."""

    def __init__(self, conn_id: int, client: str, server: str, body_cap: int = 1 << 20, tls: bool = False,
                 capture: int = 0, hasher: Hashing | None = None):
        self.conn_id = conn_id
        self.hasher = hasher or InlineHashing()  # the pipeline hands in one that hashes on another core
        self.capture = capture
        self.client = client
        self.server = server
        self.body_cap = body_cap
        self.tls = tls
        self.halves = (_Half(0), _Half(1))
        self.waiting: deque[HttpTransaction] = deque()  # requests whose response has not started
        self.notes: list[str] = []  # anomalies not tied to a transaction
        self.closed = False
        self._answered: HttpTransaction | None = None  # response over, request body still streaming
        self._out: list = []

    # -- public API -------------------------------------------------------------

    def feed(self, direction: int, data, ts: float, frame: int) -> list:
        h = self.halves[direction]
        n = len(data)
        if n < h.remaining and (h.state == LENGTH or h.state == CHUNK_DATA) and not h.expect_wait and not self.closed:
            # the bulk of an upload: a segment inside a body, short of its end (what _consume would do)
            h.sink.feed(data, ts)
            h.wire += n
            h.remaining -= n
            if h.tx is not None:
                self._touch(h, ts, frame)
            return []
        out = self._out = []
        if self.closed or not n:
            return out
        mv = data if isinstance(data, memoryview) else memoryview(data)
        try:
            self._consume(h, mv, ts, frame)
        except Exception as exc:  # malformed input must never escape: note it and resynchronise
            self._fail(h, f"decoder error {type(exc).__name__}: {exc}", ts, frame)
        return out

    def gap(self, direction: int, nbytes: int, ts: float, frame: int) -> list:
        out = self._out = []
        if self.closed or nbytes <= 0:
            return out
        h = self.halves[direction]
        try:
            self._gap(h, nbytes, ts, frame)
        except Exception as exc:
            self._fail(h, f"decoder error {type(exc).__name__}: {exc}", ts, frame)
        return out

    def close(self, ts: float, frame: int, reason: str = "") -> list:
        out = self._out = []
        if self.closed:
            return out
        self.closed = True
        try:
            self._close(ts, frame, reason)
        except Exception as exc:
            self.notes.append(f"decoder error at close {type(exc).__name__}: {exc}")
        return out

    # -- byte consumption -------------------------------------------------------

    def _consume(self, h: _Half, mv: memoryview, ts: float, frame: int) -> None:
        pos, n = 0, len(mv)
        while pos < n:
            st = h.state
            if st == LENGTH or st == CHUNK_DATA:
                if h.expect_wait and self._body_skipped(h, mv, pos, ts, frame):
                    continue
                rem = h.remaining
                take = rem if rem < n - pos else n - pos
                h.sink.feed(mv if take == n else mv[pos:pos + take], ts)
                h.wire += take
                h.remaining = rem - take
                pos += take
                if not h.remaining:
                    if st == LENGTH:
                        self._end_message(h, ts, frame)
                    else:
                        h.state = CHUNK_END
            elif st == HEAD:
                pos = self._head(h, mv, pos, ts, frame)
            elif st == UNTIL_CLOSE:
                h.sink.feed(mv[pos:] if pos else mv, ts)
                h.wire += n - pos
                pos = n
            elif st == CHUNK_SIZE:
                pos = self._chunk_size(h, mv, pos, ts, frame)
            elif st == CHUNK_END:
                pos = self._chunk_end(h, mv, pos, ts, frame)
            elif st == TRAILER:
                pos = self._trailer(h, mv, pos, ts, frame)
            elif st == RESYNC:
                pos = self._resync(h, mv, pos, ts, frame)
            else:  # OPAQUE: after a protocol switch nothing here is HTTP
                pos = n
        if h.tx is not None:
            self._touch(h, ts, frame)

    def _touch(self, h: _Half, ts: float, frame: int) -> None:
        tx = h.tx
        if h.side == 0:
            tx.request_last_time = ts
            tx.request_frames = (tx.request_frames[0], frame) if tx.request_frames else (frame, frame)
        else:
            tx.response_last_time = ts
            tx.response_frames = (tx.response_frames[0], frame) if tx.response_frames else (frame, frame)

    def _take_line(self, h: _Half, mv: memoryview, pos: int, limit: int):
        """A whole line (with its LF) from buf + mv, or None when more bytes are needed."""
        buf = h.buf
        start = len(buf)
        buf += mv[pos:pos + (limit + 1 - start)]
        i = buf.find(b"\n", start)
        if i < 0:
            if len(buf) > limit:
                return b"", pos  # over-long line: the caller notes it
            return None, len(mv)
        line = bytes(buf[:i + 1])
        buf.clear()
        return line, pos + (i + 1 - start)

    # -- heads ------------------------------------------------------------------

    def _head(self, h: _Half, mv: memoryview, pos: int, ts: float, frame: int) -> int:
        buf = h.buf
        start = len(buf)
        if not start:
            h.first_ts, h.first_frame = ts, frame
            # tolerate stray CRLFs between messages (RFC 9112 2.2)
            while pos < len(mv) and mv[pos] in (0x0D, 0x0A):
                pos += 1
            if pos == len(mv):
                return pos
        buf += mv[pos:pos + (HEAD_MAX + 4 - start)]
        # check the start line as soon as it is whole, so garbage does not eat 64 KiB first
        nl = buf.find(b"\n")
        if nl >= 0 and start <= nl:
            pat = REQUEST_LINE if h.side == 0 else STATUS_LINE
            if not pat.match(buf):
                old = bytes(buf[:start])
                buf.clear()
                return self._lost_sync(h, old, pos, ts, frame,
                                       f"not an HTTP {'request' if h.side == 0 else 'response'} start: "
                                       f"{bytes(mv[pos:pos + 40]) if not old else old[:40]!r}")
        elif nl < 0 and len(buf) > LINE_MAX:
            buf.clear()
            return self._lost_sync(h, b"", pos + 1, ts, frame, "start line too long")
        m = HEAD_END.search(buf, max(0, start - 3))
        if m is None:
            appended = len(buf) - start
            if len(buf) > HEAD_MAX:
                self._oversized_head(h, ts, frame)
            return pos + appended
        end = m.end()
        head = bytes(buf[:m.start()])
        buf.clear()
        consumed = pos + (end - start)
        if h.side == 0:
            self._request_head(h, head, ts, frame)
        else:
            self._response_head(h, head, ts, frame)
        return consumed

    def _oversized_head(self, h: _Half, ts: float, frame: int) -> None:
        line = bytes(h.buf[:h.buf.find(b"\n") + 1])
        h.buf.clear()
        note = f"header block over {HEAD_MAX // 1024} KiB"
        tx = self._start_tx(h, line, ts, frame)
        if tx is not None:
            tx.notes.append(note)
            tx.incomplete = True
            self._finish_side(h, ts, frame)
        else:
            self.notes.append(note)
        self._enter_resync(h)

    def _start_tx(self, h: _Half, line: bytes, ts: float, frame: int) -> HttpTransaction | None:
        """Transaction for a start line whose head could not be read whole (oversized, cut by a gap)."""
        if h.side == 0:
            m = REQUEST_LINE.match(line)
            if not m:
                return None
            tx = self._new_tx()
            tx.method, tx.uri, tx.version = m[1].decode(), m[2].decode("latin-1"), m[3].decode()
            tx.request_first_time, tx.request_frames = h.first_ts, (h.first_frame, frame)
            self.waiting.append(tx)
        else:
            m = STATUS_LINE.match(line)
            if not m:
                return None
            tx = self._claim()
            tx.status, tx.reason = int(m[2]), (m[3] or b"").decode("latin-1")
            tx.response_first_time, tx.response_frames = h.first_ts, (h.first_frame, frame)
        h.tx = tx
        return tx

    def _new_tx(self) -> HttpTransaction:
        return HttpTransaction(conn_id=self.conn_id, client=self.client, server=self.server, tls=self.tls,
                               capture=self.capture)

    def _claim(self) -> HttpTransaction:
        """The transaction the next final response answers (FIFO), or a response-only one."""
        if self.waiting:
            return self.waiting.popleft()
        tx = self._new_tx()
        tx.notes.append("response without a request in the capture")
        return tx

    def _request_head(self, h: _Half, head: bytes, ts: float, frame: int) -> None:
        line, _, rest = head.partition(b"\n")
        m = REQUEST_LINE.match(line + b"\n")
        tx = self._new_tx()
        tx.method, tx.uri, tx.version = m[1].decode(), m[2].decode("latin-1"), m[3].decode()
        tx.request_headers = parse_headers(rest, tx.notes)
        tx.request_first_time, tx.request_last_time = h.first_ts, ts
        tx.request_frames = (h.first_frame, frame)
        h.started = True
        if h.skipped:
            tx.notes.append(f"request found after skipping {h.skipped} bytes")
            h.skipped = 0
        h.tx = tx
        self.waiting.append(tx)
        hm = header_map(tx.request_headers)
        te = hm.get("transfer-encoding", "").lower()
        if "chunked" in te:
            self._start_body(h, tx.request_body, hm, chunked=True)
        elif "content-length" in hm:
            n = _content_length(hm["content-length"])
            if n is None:
                tx.notes.append(f"bad Content-Length {hm['content-length']!r}")
                tx.incomplete = True
                self._finish_side(h, ts, frame)
                self._enter_resync(h)
                return
            if n == 0:
                self._end_message(h, ts, frame)
                return
            self._start_body(h, tx.request_body, hm, length=n)
            h.expect_wait = "100-continue" in hm.get("expect", "").lower()
        else:
            self._end_message(h, ts, frame)

    def _response_head(self, h: _Half, head: bytes, ts: float, frame: int) -> None:
        line, _, rest = head.partition(b"\n")
        m = STATUS_LINE.match(line + b"\n")
        status = int(m[2])
        h.started = True
        notes: list[str] = []
        headers = parse_headers(rest, notes)
        if 100 <= status < 200 and status != 101:
            tx = self.waiting[0] if self.waiting else None
            if tx is not None:
                tx.interim.append(status)
                tx.notes.extend(notes)
                if tx.response_first_time is None:
                    tx.response_first_time = h.first_ts
                    tx.response_frames = (h.first_frame, frame)
            else:
                self.notes.append(f"interim {status} response without a request")
            return
        tx = self._claim()
        tx.status, tx.reason = status, (m[3] or b"").decode("latin-1").strip()
        if not tx.version:
            tx.version = m[1].decode()
        tx.response_headers = headers
        tx.notes.extend(notes)
        if tx.response_first_time is None or not tx.interim:
            tx.response_first_time = h.first_ts
            tx.response_frames = (h.first_frame, frame)
        tx.response_last_time = ts
        tx.response_frames = (tx.response_frames[0], frame)
        if h.skipped:
            tx.notes.append(f"response found after skipping {h.skipped} bytes")
            h.skipped = 0
        h.tx = tx
        hm = header_map(headers)
        if status == 101 or (tx.method == "CONNECT" and 200 <= status < 300):
            tx.notes.append("protocol switched: the rest of the connection is not HTTP/1")
            self._end_message(h, ts, frame)
            for x in self.halves:
                x.state = OPAQUE
            return
        if tx.method == "HEAD" or status in (204, 304):
            self._end_message(h, ts, frame)
            return
        te = hm.get("transfer-encoding", "").lower()
        if "chunked" in te:
            self._start_body(h, tx.response_body, hm, chunked=True)
        elif "content-length" in hm:
            n = _content_length(hm["content-length"])
            if n is None:
                tx.notes.append(f"bad Content-Length {hm['content-length']!r}: reading until close")
                self._start_body(h, tx.response_body, hm, until_close=True)
            elif n == 0:
                self._end_message(h, ts, frame)
            else:
                self._start_body(h, tx.response_body, hm, length=n)
        else:
            self._start_body(h, tx.response_body, hm, until_close=True)

    def _start_body(self, h: _Half, info: BodyInfo, hm: dict, *, length: int = 0, chunked: bool = False,
                    until_close: bool = False) -> None:
        info.content_type = hm.get("content-type", "")
        info.content_encoding = hm.get("content-encoding", "")
        info.chunked = chunked
        h.sink = BodySink(info, self.body_cap, self.hasher)
        h.wire = 0
        if chunked:
            h.state = CHUNK_SIZE
        elif until_close:
            h.state = UNTIL_CLOSE
        else:
            h.state = LENGTH
            h.remaining = length

    # -- chunked framing --------------------------------------------------------

    def _chunk_size(self, h: _Half, mv: memoryview, pos: int, ts: float, frame: int) -> int:
        line, npos = self._take_line(h, mv, pos, LINE_MAX)
        if line is None:
            h.wire += npos - pos
            return npos
        h.wire += npos - pos
        size_txt = line.split(b";", 1)[0].strip()
        try:
            size = int(size_txt, 16) if size_txt and size_txt.isalnum() else -1
        except ValueError:
            size = -1
        if size < 0:
            return self._bad_framing(h, f"bad chunk size {line[:40]!r}", npos, ts, frame)
        if size == 0:
            h.state = TRAILER
        else:
            h.state = CHUNK_DATA
            h.remaining = size
        return npos

    def _chunk_end(self, h: _Half, mv: memoryview, pos: int, ts: float, frame: int) -> int:
        line, npos = self._take_line(h, mv, pos, 2)
        h.wire += npos - pos
        if line is None:
            return npos
        if line not in (b"\r\n", b"\n"):
            return self._bad_framing(h, f"chunk not followed by CRLF: {line[:20]!r}", pos, ts, frame)
        h.state = CHUNK_SIZE
        return npos

    def _trailer(self, h: _Half, mv: memoryview, pos: int, ts: float, frame: int) -> int:
        line, npos = self._take_line(h, mv, pos, LINE_MAX)
        h.wire += npos - pos
        if line is None:
            return npos
        if line in (b"\r\n", b"\n"):
            self._end_message(h, ts, frame)
        elif not line:
            return self._bad_framing(h, "trailer line too long", npos, ts, frame)
        elif h.tx is not None:
            hs = h.tx.response_headers if h.side else h.tx.request_headers
            hs.extend(parse_headers(line, h.tx.notes))
        return npos

    def _bad_framing(self, h: _Half, note: str, pos: int, ts: float, frame: int) -> int:
        h.buf.clear()
        tx = h.tx
        if tx is not None:
            tx.notes.append(note)
            tx.incomplete = True
            if h.sink is not None:
                h.sink.invalidate()
        else:
            self.notes.append(note)
        self._finish_side(h, ts, frame)
        self._enter_resync(h)
        return pos

    # -- expect: 100-continue ---------------------------------------------------

    def _body_skipped(self, h: _Half, mv: memoryview, pos: int, ts: float, frame: int) -> bool:
        """A client that got a final answer to `Expect: 100-continue` may never send the body."""
        tx = h.tx
        if h.sink.info.size or tx is None:
            h.expect_wait = False
            return False
        if tx.status is None or REQUEST_LINE.match(bytes(mv[pos:pos + 300])) is None:
            if tx.status is not None:
                h.expect_wait = False
            return False
        h.expect_wait = False
        tx.notes.append(f"request body not sent after the final {tx.status} to Expect: 100-continue")
        h.sink.info.size = 0
        h.sink = None
        tx.request_body = BodyInfo(content_type=tx.request_body.content_type)
        h.state = HEAD
        self._request_done(h, tx)
        return True

    # -- message ends -----------------------------------------------------------

    def _end_message(self, h: _Half, ts: float, frame: int) -> None:
        if h.tx is not None:
            self._touch(h, ts, frame)
        self._finish_side(h, ts, frame)
        h.state = HEAD

    def _finish_side(self, h: _Half, ts: float, frame: int) -> None:
        """The current message of this side is over (whole or not): close its body, maybe emit."""
        tx, sink = h.tx, h.sink
        h.tx = h.sink = None
        h.expect_wait = False
        if sink is not None:
            sink.info.wire_size = h.wire
            sink.finish()
        if tx is None:
            return
        if h.side == 0:
            self._request_done(h, tx)
        else:
            self._response_done(tx)

    def _response_done(self, tx: HttpTransaction) -> None:
        # only the client's current message can still be streaming its request body
        if tx is self.halves[0].tx:
            self._answered = tx
        else:
            self._emit(tx)

    def _request_done(self, h: _Half, tx: HttpTransaction) -> None:
        if h.tx is tx:
            h.tx = None
        if self._answered is tx:
            self._answered = None
            self._emit(tx)

    def _emit(self, tx: HttpTransaction) -> None:
        if tx.status is None or tx.method is None:
            tx.incomplete = True
        self._out.append(tx)

    # -- close ------------------------------------------------------------------

    def _close(self, ts: float, frame: int, reason: str) -> None:
        cut = reason != "fin"
        for h in self.halves:
            tx = h.tx
            if tx is None:
                if h.buf and h.state == HEAD:
                    self.notes.append(f"connection ended inside a {'request' if h.side == 0 else 'response'} head")
                continue
            if h.state == UNTIL_CLOSE:
                if cut:
                    tx.truncated = True
                    tx.notes.append(f"response read until close ended by {reason or 'close'}")
            elif h.state != HEAD:
                tx.incomplete = tx.truncated = True
                tx.notes.append(f"connection ended ({reason or 'close'}) inside the "
                                f"{'request' if h.side == 0 else 'response'} body")
                if h.sink is not None:
                    h.sink.invalidate()
            self._finish_side(h, ts, frame)
        # requests never answered, oldest first
        while self.waiting:
            tx = self.waiting.popleft()
            tx.incomplete = True
            if tx.status is None:
                tx.notes.append(f"no response before the connection ended ({reason or 'close'})")
            self._emit(tx)


def _content_length(v: str) -> int | None:
    # repeated identical values ("10, 10") are allowed by RFC 9110 8.6
    vals = {x.strip() for x in v.split(",")}
    if len(vals) != 1:
        return None
    x = vals.pop()
    return int(x) if x.isascii() and x.isdigit() else None  # not "²": int() refuses it
