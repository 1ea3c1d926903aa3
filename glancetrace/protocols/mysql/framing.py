"""MySQL packet framing for one direction: 4-byte headers, 16 MB continuations, zlib compression.

`feed()` returns the packets completed by a chunk as tuples
(seq, payload, first_frame, first_ts, last_frame, last_ts).  Payloads may be
memoryviews over the caller's data: use them before the next feed, copy
what you keep.  Incomplete packets wait in one bytearray that is joined only
once the whole packet is there, so a big packet arriving in many segments
costs linear time.
"""

from __future__ import annotations

import zlib

MAX_PAYLOAD = 0xFFFFFF
JOIN_CAP = 64 << 20  # a logical payload split over 16 MB packets is kept up to this size


def _join_held(framer, data, ff: int, fts: float):
    """The bytes to parse: what the framer held back plus `data` (or `data` alone), with the frame and
    time where they began; None while the held header is still incomplete."""
    buf = framer.buf
    if not buf:
        return (data if isinstance(data, memoryview) else memoryview(data)), ff, fts
    buf += data
    if len(buf) < framer.need:
        return None
    mv = memoryview(bytes(buf))
    buf.clear()
    return mv, framer.bframe, framer.bts


class PlainFramer:
    __slots__ = ("buf", "need", "bframe", "bts", "parts", "parts_len", "pframe", "pts", "pseq",
                 "truncated")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.need = 4
        self.bframe, self.bts = 0, 0.0
        self.parts: list[bytes] = []
        self.parts_len = 0
        self.pframe, self.pts, self.pseq = 0, 0.0, 0
        self.truncated = 0  # payload bytes dropped past JOIN_CAP

    def reset(self) -> None:
        self.buf.clear()
        self.need = 4
        self.parts = []
        self.parts_len = 0

    @property
    def pending(self) -> int:
        return len(self.buf) + self.parts_len

    def feed(self, data, ff: int, fts: float, lf: int, lts: float) -> list:
        out: list = []
        buf = self.buf
        joined = _join_held(self, data, ff, fts)
        if joined is None:
            return out
        mv, sframe, sts = joined
        n = len(mv)
        pos = 0
        ln = 0
        while n - pos >= 4:
            ln = mv[pos] | mv[pos + 1] << 8 | mv[pos + 2] << 16
            end = pos + 4 + ln
            if end > n:
                break
            if pos:
                sframe, sts = ff, fts  # only the first packet can have begun in an earlier chunk
            payload = mv[pos + 4:end]
            seq = mv[pos + 3]
            if ln == MAX_PAYLOAD or self.parts:
                if not self.parts:
                    self.pframe, self.pts, self.pseq = sframe, sts, seq
                if self.parts_len < JOIN_CAP:
                    self.parts.append(bytes(payload))
                    self.parts_len += ln
                else:
                    self.truncated += ln
                if ln == MAX_PAYLOAD:
                    pos = end
                    continue
                payload = b"".join(self.parts)
                sframe, sts, seq = self.pframe, self.pts, self.pseq
                self.parts = []
                self.parts_len = 0
            out.append((seq, payload, sframe, sts, lf, lts))
            pos = end
        if pos < n:
            buf += mv[pos:]
            self.bframe, self.bts = (sframe, sts) if pos == 0 else (ff, fts)
            self.need = 4 + ln if n - pos >= 4 else 4
        return out


class CompressedFramer:
    """The compressed protocol: 7-byte headers around zlib'd (or stored) runs of plain packets."""

    __slots__ = ("buf", "need", "bframe", "bts", "inner")

    def __init__(self, inner: PlainFramer | None = None) -> None:
        self.buf = bytearray()
        self.need = 7
        self.bframe, self.bts = 0, 0.0
        self.inner = inner or PlainFramer()

    def reset(self) -> None:
        self.buf.clear()
        self.need = 7
        self.inner.reset()

    @property
    def pending(self) -> int:
        return len(self.buf) + self.inner.pending

    def feed(self, data, ff: int, fts: float, lf: int, lts: float) -> list:
        out: list = []
        buf = self.buf
        joined = _join_held(self, data, ff, fts)
        if joined is None:
            return out
        mv, sframe, sts = joined
        n = len(mv)
        pos = 0
        clen = 0
        inner = self.inner
        while n - pos >= 7:
            clen = mv[pos] | mv[pos + 1] << 8 | mv[pos + 2] << 16
            end = pos + 7 + clen
            if end > n:
                break
            if pos:
                sframe, sts = ff, fts
            ulen = mv[pos + 4] | mv[pos + 5] << 8 | mv[pos + 6] << 16
            body = mv[pos + 7:end]
            if ulen:
                try:
                    body = zlib.decompress(body)
                except zlib.error:
                    inner.reset()
                    pos = end
                    continue
            out += inner.feed(body, sframe, sts, lf, lts)
            pos = end
        if pos < n:
            buf += mv[pos:]
            self.bframe, self.bts = (sframe, sts) if pos == 0 else (ff, fts)
            self.need = 7 + clen if n - pos >= 7 else 7
        return out
