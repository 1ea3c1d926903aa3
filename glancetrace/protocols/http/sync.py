"""Capture gaps and lost framing: counting what was lost and finding the next message start."""

from __future__ import annotations

from .half import (CHUNK_DATA, CHUNK_END, CHUNK_SIZE, HEAD, LENGTH, OPAQUE, RESYNC, RESYNC_TAIL, TRAILER,
                   UNTIL_CLOSE, _Half)
from .head import find_request_start, find_status_start


class _Sync:
    """Part of HttpDecoder (decoder.py): losing and finding sync, gaps."""

    def _enter_resync(self, h: _Half) -> None:
        h.state = RESYNC
        h.buf.clear()

    def _lost_sync(self, h: _Half, old: bytes, pos: int, ts: float, frame: int, note: str) -> int:
        """Bytes at a message start are not a message: note it (unless the capture began
        mid-message on this side), then scan from there."""
        if h.started:
            self.notes.append(f"{'client' if h.side == 0 else 'server'} side: {note}")
        h.state = RESYNC
        h.buf.clear()
        h.buf += old
        return pos

    def _resync(self, h: _Half, mv: memoryview, pos: int, ts: float, frame: int) -> int:
        # every segment start counts as a line start: after a gap or on a fresh
        # capture, messages very often begin exactly at a segment boundary
        carried = len(h.buf)
        data = bytes(h.buf) + bytes(mv[pos:]) if carried else bytes(mv[pos:])
        i = (find_request_start if h.side == 0 else find_status_start)(data, True, carried)
        h.buf.clear()
        if i < 0:
            # keep the last partial line: a start line may straddle segments
            nl = data.rfind(b"\n")
            tail = data[nl + 1:]
            if len(tail) > RESYNC_TAIL:
                tail = b""
            h.buf += tail
            h.skipped += len(data) - len(tail)
            return len(mv)
        h.skipped += i
        h.state = HEAD
        h.first_ts, h.first_frame = ts, frame
        if i < carried:
            # the start line began in carried bytes: put them back in front
            h.buf += data[i:carried]
            return pos
        return pos + (i - carried)

    def _fail(self, h: _Half, note: str, ts: float, frame: int) -> None:
        try:
            if h.tx is not None:
                h.tx.notes.append(note)
                h.tx.incomplete = True
                if h.sink is not None:
                    h.sink.invalidate()
                self._finish_side(h, ts, frame)
            else:
                self.notes.append(note)
        except Exception:  # the state is beyond repair: drop the message
            h.tx = h.sink = None
        self._enter_resync(h)

    # -- gaps -------------------------------------------------------------------

    def _gap(self, h: _Half, nbytes: int, ts: float, frame: int) -> None:
        st = h.state
        tx = h.tx
        who = "request" if h.side == 0 else "response"
        if st in (LENGTH, UNTIL_CLOSE) and tx is not None:
            tx.gap = tx.incomplete = True
            h.sink.invalidate()
            if st == UNTIL_CLOSE:
                h.sink.lost(nbytes, ts)
                h.wire += nbytes
                tx.notes.append(f"{nbytes} {who} body bytes not captured")
                return
            lost = min(nbytes, h.remaining)
            h.sink.lost(lost, ts)
            h.wire += lost
            h.remaining -= lost
            tx.notes.append(f"{lost} {who} body bytes not captured")
            if h.remaining:
                return
            self._end_message(h, ts, frame)
            nbytes -= lost
            if not nbytes:
                return
            st = HEAD
            tx = None
        if st == HEAD and not h.buf:
            # between messages: the lost bytes held at least one whole message start
            self._lost_message(h, None, ts, frame, nbytes)
        elif st == HEAD:
            line = bytes(h.buf[:h.buf.find(b"\n") + 1]) if b"\n" in h.buf else b""
            h.buf.clear()
            if self._start_tx(h, line, ts, frame) is not None:
                h.tx.gap = h.tx.incomplete = True
                h.tx.notes.append(f"{who} head cut by a capture gap of {nbytes} bytes")
                self._finish_side(h, ts, frame)
            else:
                self._lost_message(h, None, ts, frame, nbytes)
        elif st in (CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER) and tx is not None:
            tx.gap = tx.incomplete = True
            h.sink.invalidate()
            if st == CHUNK_DATA:
                h.sink.lost(nbytes, ts)
            tx.notes.append(f"capture gap of {nbytes} bytes inside a chunked {who} body")
            self._finish_side(h, ts, frame)
        elif st == OPAQUE:
            return
        # RESYNC, or any state above that lost the framing
        self._enter_resync(h)

    def _lost_message(self, h: _Half, _tx, ts: float, frame: int, nbytes: int) -> None:
        if h.side == 0:
            tx = self._new_tx()
            tx.gap = tx.incomplete = True
            tx.notes.append(f"request lost in a capture gap of {nbytes} bytes")
            tx.request_first_time = tx.request_last_time = ts
            self.waiting.append(tx)
        elif self.waiting:
            tx = self.waiting.popleft()
            tx.gap = tx.incomplete = True
            tx.notes.append(f"response lost in a capture gap of {nbytes} bytes")
            self._response_done(tx)
        else:
            self.notes.append(f"server side: capture gap of {nbytes} bytes with no request waiting")
