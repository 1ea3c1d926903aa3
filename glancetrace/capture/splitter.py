"""Cut a capture into smaller captures, copying records verbatim (`glancetrace split`).

Three ways to cut:

* by packet count and by time interval, exactly as `editcap -c N` / `editcap -i S`
  do: the same boundaries and the same file names (`PREFIX_NNNNN_YYYYMMDDHHMMSS
  SUFFIX`, the time of the piece's first packet in local time, the suffix being
  everything from the last dot of the output name), a header-only OUT when the
  input holds no packet, and with -i an empty piece for every interval without
  packets;
* by TCP connection (`flows`): K pieces, each connection whole in one of them.

Unlike editcap (which writes pcapng unless told otherwise and rewrites every
record), a piece keeps the input's format and header byte for byte: a pcap keeps
its byte order, nanosecond magic and snaplen; a pcapng piece starts with the
section header, interface descriptions and decryption secrets seen so far.
Records are never decoded, only copied, where the one record walker
(capture/pcapfile.py `runs()`, `spans()` for --flows) finds them; a run of consecutive
records going to the same piece is copied with one write, from a plain file inside the kernel
(copy_file_range: peak memory stays flat from 200 MB to 2 GB).  A gzip input is
read as a stream and the pieces are written uncompressed, as editcap does.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import UnusableInput
from .formats import BT_DSB, BT_IDB, PACKET, PCAPNG_SHB
from .pcapfile import CaptureReader, RunCuts
from .shard import FlowShards

NS = 1_000_000_000
WRITE_BUFFER = 1 << 20
COPY_PART = 64 << 20  # a copy through Python goes in parts this big (memory)
PROGRESS_EVERY = 64 << 20
Progress = Callable[[int], None]  # called with bytes of input consumed so far


@dataclass
class SplitResult:
    files: list[str] = field(default_factory=list)
    packets_per_file: list[int] = field(default_factory=list)
    packets: int = 0
    warnings: list[str] = field(default_factory=list)


# -- names, as editcap makes them ----------------------------------------------

def prefix_suffix(out: str) -> tuple[str, str]:
    """Split OUT at its last dot, if that dot is in the last path component
    (Wireshark's fileset_extract_prefix_suffix): 'a/b.pcap.gz' -> ('a/b.pcap', '.gz')."""
    dot = out.rfind(".")
    if dot >= 0 and dot > out.rfind(os.sep):
        return out[:dot], out[dot:]
    return out, ""


def piece_name(out: str, index: int, ts_sec: int) -> str:
    prefix, suffix = prefix_suffix(out)
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(ts_sec))
    return f"{prefix}_{index:05d}_{stamp}{suffix}"


def flow_piece_name(out: str, index: int, count: int) -> str:
    prefix, suffix = prefix_suffix(out)
    return f"{prefix}_flow{index:05d}of{count:05d}{suffix}"


# -- writing ---------------------------------------------------------------------

class _Piece:
    """One output file; coalesces contiguous spans of the same input buffer.  With `fd` (a
    plain input file, whose one buffer is its whole mapping) spans are copied from the file
    inside the kernel instead."""

    __slots__ = ("path", "f", "packets", "_fd", "_buf", "_start", "_end")

    def __init__(self, path: str, preamble: list[bytes], fd: int | None = None):
        self.path = path
        try:
            self.f = open(path, "wb", buffering=WRITE_BUFFER)
        except OSError as e:
            raise UnusableInput(f"{path}: cannot write: {e.strerror or e}")
        for b in preamble:
            self.f.write(b)
        self.packets = 0
        self._fd = fd
        self._buf = None
        self._start = self._end = 0

    def add(self, buf, start: int, end: int) -> None:
        if buf is self._buf and start == self._end:
            self._end = end
            return
        self.flush_span()
        self._buf, self._start, self._end = buf, start, end

    def write(self, block: bytes) -> None:
        """A block of its own (metadata), after the records added so far."""
        self.flush_span()
        self.f.write(block)

    def copy_file(self, fd: int, offset: int, length: int) -> None:
        """Copy bytes of the input file straight into this piece, inside the kernel
        (copy_file_range: no page faults on the mapping, no copy through Python)."""
        self.f.flush()
        out = self.f.fileno()
        while length > 0:
            try:
                n = os.copy_file_range(fd, out, length, offset)
            except (AttributeError, OSError):
                n = 0
            if n <= 0:  # not supported here (or across these file systems): plain copy, in parts
                os.lseek(out, 0, os.SEEK_END)
                n = min(length, COPY_PART)
                self.f.write(os.pread(fd, n, offset))
                self.f.flush()
            offset += n
            length -= n

    def flush_span(self) -> None:
        """Write the pending span (before the input buffer it points into changes)."""
        if self._buf is not None:
            if self._fd is not None:
                self.copy_file(self._fd, self._start, self._end - self._start)
            else:
                self.f.write(self._buf[self._start:self._end])
            self._buf = None

    def close(self) -> None:
        self.flush_span()
        self.f.close()


class _Preamble:
    """What each new piece must start with: the pcap header, or the pcapng section
    header plus the interface descriptions and decryption secrets seen so far."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.blocks: list[bytes] = []
        self.pending: list[bytes] = []  # other blocks met while no piece was open

    def meta(self, btype: int, raw) -> bool:
        """Take note of a non-packet record; True when every piece needs it (a section
        header, an interface description, decryption secrets)."""
        b = bytes(raw)
        if self.fmt == "pcap" or btype == PCAPNG_SHB:
            self.blocks = [b]
            self.pending = []
            return True
        if btype in (BT_IDB, BT_DSB):
            self.blocks.append(b)
            return True
        self.pending.append(b)
        return False

    def start(self) -> list[bytes]:
        out = self.blocks + self.pending
        self.pending = []
        return out


@contextlib.contextmanager
def _input(path: str):
    """The reader, and the input file's descriptor when runs of records can be copied from the
    file (a plain file: its one buffer is the whole mapping); None for gzip and pipes."""
    reader = CaptureReader(path)
    plain = not reader.source.compressed and not reader.source.stream
    fd = os.open(reader.source.path, os.O_RDONLY) if plain else None
    try:
        yield reader, fd
    finally:
        if fd is not None:
            os.close(fd)


class SplitInterrupted(Exception):
    """Ctrl-C during a split: the pieces written whole so far (the ones still being written were removed)."""

    def __init__(self, kept: list[str]):
        super().__init__(f"interrupted: {len(kept)} whole piece(s) kept")
        self.kept = kept


def _interrupted(pieces: list[_Piece] | None) -> SplitInterrupted:
    """Remove the pieces still open (a cut-off piece would look like a capture that lost its end)."""
    kept = []
    for p in pieces or []:
        if p.f.closed:
            kept.append(p.path)
            continue
        with contextlib.suppress(OSError):
            p.f.close()
        with contextlib.suppress(OSError):
            os.remove(p.path)
    return SplitInterrupted(kept)


def _finish(reader: CaptureReader, pieces: list[_Piece]) -> SplitResult:
    res = SplitResult()
    for p in pieces:
        p.close()
        res.files.append(p.path)
        res.packets_per_file.append(p.packets)
        res.packets += p.packets
    res.warnings.extend(reader.info.warnings)
    return res


# -- by count or by interval (editcap -c / -i) ---------------------------------

def split_editcap(path: str, out: str, count: int = 0, seconds: int = 0,
                  progress: Progress | None = None) -> SplitResult:
    """editcap -c COUNT or -i SECONDS, keeping the input's format."""
    if (count > 0) == (seconds > 0):
        raise ValueError("give exactly one of count and seconds")
    with _input(path) as (reader, fd):
        return _split_editcap(reader, fd, out, count, seconds, progress)


def _split_editcap(reader: CaptureReader, fd: int | None, out: str, count: int, seconds: int,
                   progress: Progress | None) -> SplitResult:
    pre = _Preamble(reader.info.format)
    pieces: list[_Piece] = []
    cur: _Piece | None = None
    last_buf = None
    done = tick = 0
    try:
        for kind, btype, ts_ns, buf, start, end, packets, files in reader.runs(RunCuts(count, seconds * NS)):
            if buf is not last_buf:
                # a gzip input arrives in chunks: write what points into the old one
                if cur is not None:
                    cur.flush_span()
                if last_buf is not None:
                    done += len(last_buf)
                last_buf = buf
            if kind != PACKET:
                pre.meta(btype, buf[start:end])
                if cur is not None:  # written where it stands, too
                    cur.write(pre.pending.pop() if pre.pending else pre.blocks[-1])
                continue
            for _ in range(files):
                if cur is not None:
                    cur.close()
                cur = _Piece(piece_name(out, len(pieces), ts_ns // NS), pre.start(), fd)
                pieces.append(cur)
            cur.add(buf, start, end)
            cur.packets += packets
            if progress is not None and done + end - tick > PROGRESS_EVERY:
                tick = done + end
                progress(tick)
        if cur is None:  # no packet at all: editcap writes OUT itself, header only
            cur = _Piece(out, pre.start())
            pieces.append(cur)
    except KeyboardInterrupt:
        raise _interrupted(pieces) from None
    finally:
        for p in pieces:
            if not p.f.closed:
                p.flush_span()
    return _finish(reader, pieces)


# -- by connection -------------------------------------------------------------------

def split_flows(path: str, out: str, k: int, progress: Progress | None = None) -> SplitResult:
    """K pieces (all created, some maybe empty), each TCP connection whole in one: the piece
    that has the fewest bytes when its first frame comes (capture/shard.py)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    # records go to the pieces one by one, interleaved: written from the buffer (a copy inside
    # the kernel pays off for long runs only)
    reader = CaptureReader(path)
    pre = _Preamble(reader.info.format)
    ifaces = reader.info.interfaces
    pieces: list[_Piece] | None = None
    shards = FlowShards(k)
    last_buf = None
    done = tick = 0
    try:
        for kind, btype, _ts, iface, buf, start, end, ds, de in reader.spans():
            if buf is not last_buf:
                if pieces is not None:
                    for p in pieces:
                        p.flush_span()
                if last_buf is not None:
                    done += len(last_buf)
                last_buf = buf
            if kind != PACKET:
                everyone = pre.meta(btype, buf[start:end])
                if pieces is not None:
                    # section metadata goes to every piece, anything else to piece 0
                    b = pre.blocks[-1] if everyone else pre.pending.pop()
                    for p in (pieces if everyone else pieces[:1]):
                        p.write(b)
                continue
            if pieces is None:
                start_blocks = pre.start()
                pieces = [_Piece(flow_piece_name(out, i, k), start_blocks) for i in range(k)]
            p = pieces[shards.of(ifaces[iface].linktype, buf[ds:de])]
            p.add(buf, start, end)
            p.packets += 1
            if progress is not None and done + start - tick > PROGRESS_EVERY:
                tick = done + start
                progress(tick)
        if pieces is None:
            start_blocks = pre.start()
            pieces = [_Piece(flow_piece_name(out, i, k), start_blocks) for i in range(k)]
    except KeyboardInterrupt:
        raise _interrupted(pieces) from None
    finally:
        for p in pieces or []:
            if not p.f.closed:
                p.flush_span()
    return _finish(reader, pieces)
