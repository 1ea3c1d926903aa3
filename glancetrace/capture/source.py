"""Open a capture file as bytes: mmap for plain files, streamed chunks for gzip.

Format is detected by magic, never by file name.  Record parsers work on a
buffer plus an offset; a plain file is one buffer (the whole mmap), a gzip file
arrives as a sequence of chunks and the parser carries the unparsed tail over.
"""

from __future__ import annotations

import gzip
import mmap
import os
import zlib
from dataclasses import dataclass
from typing import Iterator

from ..errors import UnusableInput

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 8 << 20


@dataclass
class Source:
    path: str
    size: int  # bytes on disk
    compressed: bool
    head: bytes  # first bytes of the (decompressed) content
    damaged: str = ""  # why a gzip stream ended early ("" while it reads cleanly)

    def chunks(self) -> Iterator[memoryview | bytes]:
        """The whole content as buffers, in order (one buffer for a plain file)."""
        if self.compressed:
            yield from self._gunzip()
        else:
            if self.size == 0:
                return
            with open(self.path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                mm.madvise(mmap.MADV_SEQUENTIAL)
            except (AttributeError, OSError):
                pass
            # the mmap is not closed explicitly: packet views may outlive this
            # generator and the mapping goes when the last view is dropped
            yield memoryview(mm)

    def _gunzip(self) -> Iterator[bytes]:
        """Decompress with zlib directly rather than through gzip.open: a stream cut off
        mid-way then still yields every byte up to the cut (gzip.open loses the block it
        was reading).  Concatenated gzip members are read one after the other."""
        with open(self.path, "rb") as f:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            fed = False  # has the current member's decompressor seen input?
            while True:
                raw = f.read(CHUNK // 4)
                if not raw:
                    break
                while raw:
                    try:
                        out = d.decompress(raw)
                    except zlib.error as e:
                        self.damaged = f"gzip data is damaged ({e})"
                        return
                    fed = True
                    if out:
                        yield out
                    if not d.eof:
                        break
                    raw = d.unused_data  # another member follows (or trailing padding)
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    fed = False
                    if raw and raw[:2] != GZIP_MAGIC:
                        return  # zero padding after the last member, as some tools write
            if fed and not d.eof:
                tail = d.flush()
                if tail:
                    yield tail
                self.damaged = "the gzip stream ends before its end marker (file cut off?)"


def open_source(path: str) -> Source:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(64)
    except IsADirectoryError:
        raise UnusableInput(f"{path}: is a directory, not a capture file")
    except OSError as e:
        raise UnusableInput(f"{path}: cannot read: {e.strerror or e}")
    compressed = head[:2] == GZIP_MAGIC
    if compressed:
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(64)
        except (OSError, EOFError, zlib.error) as e:
            raise UnusableInput(f"{path}: gzip data is damaged ({e})")
    return Source(path=path, size=size, compressed=compressed, head=head)
