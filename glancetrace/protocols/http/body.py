"""One HTTP message body as it streams by: size, digests, and a capped text copy.

Image uploads are GBs of application/octet-stream: they are only hashed (md5,
sha256, sha512, all in C: segments are gathered into batches for the hasher the
decoder was given, digests.py) and counted.  Textual bodies (JSON, text, XML,
forms) are also kept up to the cap, decoded from gzip / deflate / raw deflate on
the fly, and JSON is parsed at the end.
"""

from __future__ import annotations

import json
import zlib

from .digests import BATCH, Hashing, StreamDigests
from .events import BodyInfo
from .progress import Progress

_TEXTUAL = ("json", "text/", "xml", "x-www-form-urlencoded", "javascript")
_GZIP = ("gzip", "x-gzip")
_DEFLATE = ("deflate", "x-deflate")


def is_textual(content_type: str) -> bool:
    """Worth keeping as text; an absent type is kept too (bounded by the cap anyway)."""
    ct = content_type.lower()
    return not ct.strip() or any(t in ct for t in _TEXTUAL)


class BodySink(Progress):
    """Accumulates BodyInfo for one body; `feed` takes bytes or memoryviews.  It is the body's progress record
    (http/progress.py) and gathers the batches its digests are fed (http/digests.py): per segment of an upload
    one call, not three."""

    __slots__ = ("info", "cap", "_digests", "_batch", "_keep", "_inflate", "_coding", "_decode_failed")

    def __init__(self, info: BodyInfo, cap: int, hashing: Hashing):
        super().__init__()
        self.info = info
        self.cap = cap
        self._digests: StreamDigests | None = StreamDigests(hashing)
        self._batch = bytearray()  # bytes not yet handed to the digests
        coding = info.content_encoding.lower().strip()
        self._coding = coding
        self._keep: bytearray | None = bytearray() if is_textual(info.content_type) and cap > 0 else None
        self._inflate = None
        self._decode_failed = False

    def feed(self, data, ts: float) -> None:
        """`data` is body content (chunk framing already removed), arrived at `ts`."""
        info = self.info
        info.size += len(data)
        if ts - self._at < self.dt and ts >= self._ts:  # Progress.add's first case: not recorded, only remembered
            self._ts, self._total, self._pending = ts, info.size, True
        else:
            self.add(ts, info.size)
        if self._digests is not None:
            batch = self._batch
            batch += data
            if len(batch) >= BATCH:
                self._digests.submit(batch)
                self._batch = bytearray()
        keep = self._keep
        if keep is not None and not info.capped:
            self._keep_text(data, keep)

    def _keep_text(self, data, keep: bytearray) -> None:
        coding = self._coding
        if coding in ("", "identity"):
            out = data
        elif self._decode_failed:
            return
        else:
            if self._inflate is None:
                if coding in _GZIP:
                    self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif coding in _DEFLATE:
                    # RFC 9110 deflate is zlib-wrapped, but many servers send raw deflate:
                    # a zlib header has CMF 0x?8 and (CMF*256+FLG) % 31 == 0
                    head = bytes(data[:2])
                    wrapped = len(head) == 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
                    self._inflate = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
                else:
                    self._decode_failed = True  # br, zstd, ...: keep nothing rather than garbage
                    return
            try:
                out = self._inflate.decompress(data, self.cap + 1 - len(keep))
            except zlib.error:
                self._decode_failed = True
                return
        room = self.cap - len(keep)
        if len(out) > room:
            keep += out[:room]
            self.info.capped = True
        else:
            keep += out

    def lost(self, nbytes: int, ts: float) -> None:
        """`nbytes` of the body were not captured (a gap): counted in its size, marked in its progress."""
        self.gap(ts, self.info.size, nbytes)
        self.info.size += nbytes
        self.add(ts, self.info.size)

    def invalidate(self) -> None:
        """Bytes of this body were not captured: digests and JSON cannot be trusted."""
        self._digests = self._batch = None
        self._keep = None

    def finish(self) -> BodyInfo:
        info = self.info
        info.progress, info.gaps = self.series(), self.gaps
        if self._digests is not None:
            info.md5, info.sha256, info.sha512 = self._digests.hexdigests(self._batch)
            self._digests = self._batch = None
        keep = self._keep
        if keep is not None and (keep or info.size):
            if self._inflate is not None and not info.capped and not self._decode_failed:
                try:
                    rest = self._inflate.flush()
                except zlib.error:
                    rest = b""
                room = self.cap - len(keep)
                if len(rest) > room:
                    info.capped = True
                keep += rest[:room]
            info.text = bytes(keep)
            if "json" in info.content_type.lower() and not info.capped and info.text:
                try:
                    info.json = json.loads(info.text)
                except (ValueError, UnicodeDecodeError):
                    pass
        self._keep = None
        self._inflate = None
        return info
