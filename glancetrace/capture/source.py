"""Open a capture file as bytes: mmap for plain files, streamed chunks for gzip and pipes.

Format is detected by magic, never by file name.  Record parsers work on a
buffer plus an offset; a plain file is one buffer (the whole mmap), a gzip file
or a pipe (`-`, /dev/stdin, a FIFO) arrives as a sequence of chunks and the
parser carries the unparsed tail over.  A pipe can be read only once: its first
bytes are kept from the magic check and handed back at the start of the stream.
"""

from __future__ import annotations

import gzip
import mmap
import os
import stat
import sys
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from ..errors import UnusableInput

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 8 << 20
STDIN = "-"
PIPE_PREFIX = 64 << 10  # raw bytes read from a pipe to find its magic (and, gzip'd, its first bytes)


@dataclass
class Source:
    path: str
    size: int  # bytes on disk
    compressed: bool
    head: bytes  # first bytes of the (decompressed) content
    damaged: str = ""  # why a gzip stream ended early ("" while it reads cleanly)
    # a pipe is read once, in order: no mapping, no second pass, no size known before
    stream: bool = False
    pipe: BinaryIO | None = field(default=None, repr=False)  # None once its reading has begun
    prefix: bytes = field(default=b"", repr=False)  # raw bytes already taken from the pipe

    def chunks(self) -> Iterator[memoryview | bytes]:
        """The whole content as buffers, in order (one buffer for a plain file)."""
        if self.stream:
            raw = self._pipe_raw()
            yield from (self._gunzip(raw) if self.compressed else raw)
        elif self.compressed:
            yield from self._gunzip(self._file_raw())
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

    def _file_raw(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while raw := f.read(CHUNK // 4):
                yield raw

    def _pipe_raw(self) -> Iterator[bytes]:
        pipe, prefix = self.pipe, self.prefix
        if pipe is None:
            raise UnusableInput(f"{self.path}: a pipe can be read only once")
        self.pipe, self.prefix = None, b""
        if prefix:
            yield prefix
        while raw := pipe.read(CHUNK):
            yield raw

    def _gunzip(self, raws: Iterator[bytes]) -> Iterator[bytes]:
        """Decompress with zlib directly rather than through gzip.open: a stream cut off
        mid-way then still yields every byte up to the cut (gzip.open loses the block it
        was reading).  Concatenated gzip members are read one after the other."""
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        fed = False  # has the current member's decompressor seen input?
        for raw in raws:
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


def is_pipe(path: str) -> bool:
    """`-` (standard input) or anything that is not a regular file: /dev/stdin, a FIFO."""
    if path == STDIN:
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path)
    except OSError:
        return False


def _open_pipe(path: str) -> Source:
    try:
        pipe = sys.stdin.buffer if path == STDIN else open(path, "rb")
        prefix = pipe.read(PIPE_PREFIX)
    except OSError as e:
        raise UnusableInput(f"{path}: cannot read: {e.strerror or e}")
    compressed = prefix[:2] == GZIP_MAGIC
    head = prefix[:64]
    if compressed:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(prefix, 64)
        except zlib.error as e:
            raise UnusableInput(f"{path}: gzip data is damaged ({e})")
    return Source(path=path, size=0, compressed=compressed, head=head, stream=True, pipe=pipe,
                  prefix=prefix)


def open_source(path: str) -> Source:
    if is_pipe(path):
        return _open_pipe(path)
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
