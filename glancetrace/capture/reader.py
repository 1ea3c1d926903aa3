"""Read packet records from classic pcap and pcapng, without decoding them.

`packets()` is the hot path: it yields `(frame, ts, iface, data, origlen)` with
`data` a memoryview into the file's mapping (no copy).  `blocks()` yields the
raw bytes of every block/record for writers that copy records verbatim
(`glancetrace split`).  Frames are numbered from 1, as Wireshark does.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..errors import UnusableInput
from .source import Source, open_source

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = 0x0A0D0D0A
BT_IDB, BT_OPB, BT_SPB, BT_EPB, BT_DSB = 1, 2, 3, 6, 0x0000000A
SECRETS_TLS_KEYLOG = 0x544C534B
LINKTYPE_UNDECLARED = 0xFFFF  # placeholder for packets on an interface no IDB described
MAX_RECORD = 256 << 20  # a record claiming more than this is corruption, not data

_MIN_BODY = {BT_EPB: 20, BT_OPB: 20, BT_SPB: 4, BT_IDB: 8, BT_DSB: 8}

RELEASE_EVERY = 64 << 20


def _release(mv: memoryview, off: int) -> int:
    """Drop the mapped pages already read from this process's memory (they stay in
    the page cache and fault back in if touched again), so that peak memory does not
    grow with the size of the capture.  Returns the next offset to do it at."""
    mm = mv.obj
    if isinstance(mm, mmap.mmap):
        upto = (off - RELEASE_EVERY // 2) // mmap.PAGESIZE * mmap.PAGESIZE
        if upto > 0:
            try:
                mm.madvise(mmap.MADV_DONTNEED, 0, upto)
            except (AttributeError, OSError, ValueError):
                pass
    return off + RELEASE_EVERY


# kinds yielded by blocks()
META, PACKET = 0, 1


@dataclass
class Interface:
    linktype: int
    snaplen: int
    tsresol: float = 1e-6
    tsoffset: int = 0
    name: str = ""
    ticks_per_sec: int = 1_000_000  # exact form of tsresol, for integer nanoseconds

    def ts_ns(self, ticks: int) -> int:
        return ticks * 1_000_000_000 // self.ticks_per_sec + self.tsoffset * 1_000_000_000


@dataclass
class CaptureInfo:
    path: str
    format: str  # "pcap" or "pcapng"
    compressed: bool
    size: int
    interfaces: list[Interface] = field(default_factory=list)
    tls_keylog: list[bytes] = field(default_factory=list)  # pcapng decryption secrets
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False  # file ends mid-record
    packets: int = 0
    first_ts: float | None = None
    last_ts: float | None = None


class CaptureReader:
    """One capture file; iterate `packets()` (or `blocks()`) once per pass."""

    def __init__(self, path: str):
        self.source: Source = open_source(path)
        head = self.source.head
        if len(head) < 4:
            raise UnusableInput(f"{path}: empty or too short to be a capture ({len(head)} bytes)")
        if head[:4] in PCAP_MAGICS:
            fmt = "pcap"
            if len(head) < 24:
                raise UnusableInput(f"{path}: pcap global header is cut short ({len(head)} of 24 bytes)")
        elif struct.unpack("<I", head[:4])[0] == PCAPNG_SHB:
            fmt = "pcapng"
            if len(head) < 12 or head[8:12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise UnusableInput(f"{path}: pcapng section header is damaged")
        else:
            raise UnusableInput(f"{path}: not a pcap or pcapng capture (unknown magic {head[:4].hex()})")
        self.info = CaptureInfo(path=path, format=fmt, compressed=self.source.compressed,
                                size=self.source.size)
        if fmt == "pcap":
            self._pcap_header(head)

    # -- pcap ---------------------------------------------------------------

    def _pcap_header(self, head: bytes) -> None:
        endian, scale = PCAP_MAGICS[head[:4]]
        _, _, _, _, snaplen, network = struct.unpack(endian + "HHiIII", head[4:24])
        self._endian, self._scale = endian, scale
        self.info.interfaces = [Interface(linktype=network & 0x03FFFFFF, snaplen=snaplen, tsresol=scale,
                                          ticks_per_sec=round(1 / scale))]

    def _buffers(self) -> Iterator[tuple[memoryview | bytes, bool]]:
        """Yield (buffer, is_last); callers keep their unparsed tail and prepend it."""
        it = self.source.chunks()
        prev = next(it, None)
        while prev is not None:
            nxt = next(it, None)
            yield prev, nxt is None
            prev = nxt

    def _warn(self, msg: str) -> None:
        """A warning is kept once, however many passes read the file."""
        if msg not in self.info.warnings:
            self.info.warnings.append(msg)

    def _truncated(self, frames: int, leftover: int) -> None:
        self.info.truncated = True
        self._warn(f"capture ends mid-record after frame {frames} ({leftover} bytes of an incomplete "
                   f"record ignored; was tcpdump stopped abruptly?)")

    def _end_of_data(self, frames: int, leftover: int) -> None:
        if leftover:
            self._truncated(frames, leftover)
        elif self.source.damaged:
            # a gzip stream cut exactly between two records: still say so
            self.info.truncated = True
            self._warn(f"gzip data ends early or is damaged after frame {frames}: {self.source.damaged}")

    def packets(self, select: Callable[[int, memoryview], bool] | None = None
                ) -> Iterator[tuple[int, float, int, memoryview, int]]:
        """(frame number, seconds, interface, frame bytes, original length) of every packet,
        or of those `select(linktype, bytes)` keeps: a shard of a parallel pass skips the
        others before a tuple is made for them, which is most of what walking them costs."""
        if self.info.format == "pcap":
            yield from self._pcap_packets(select)
        else:
            ifaces = self.info.interfaces
            for kind, frame, ts, iface, data, origlen, _raw in self._pcapng_blocks(want_raw=False):
                if kind == PACKET and (select is None or select(ifaces[iface].linktype, data)):
                    yield frame, ts, iface, data, origlen

    def blocks(self) -> Iterator[tuple[int, float, memoryview]]:
        """(META|PACKET, ts, raw bytes) of every block; the pcap header is one META."""
        if self.info.format == "pcap":
            yield from self._pcap_blocks()
        else:
            for kind, _frame, ts, _iface, _data, _origlen, raw in self._pcapng_blocks(True):
                yield kind, ts, raw[0][raw[1]:raw[2]]

    def spans(self) -> Iterator[tuple[int, int, int, int, memoryview, int, int, int, int]]:
        """(META|PACKET, block type, ts in integer ns, interface, buffer, start, end,
        data start, data end) of every record.

        For writers that copy records verbatim: `buffer[start:end]` is the record, and
        consecutive records of one buffer are contiguous, so a writer can copy a run of
        them with one write.  pcap: the global header is a META with block type -1 and
        packets have block type 0; pcapng: the block type.  Timestamps are exact
        integers (float seconds lose nanoseconds)."""
        if self.info.format == "pcap":
            yield from self._pcap_spans()
        else:
            for kind, _frame, _ts, iface, _data, _origlen, raw in self._pcapng_blocks(True):
                buf, start, end, btype, ts_ns, dstart, dend = raw
                yield kind, btype, ts_ns, iface, buf, start, end, dstart, dend

    def _pcap_spans(self):
        head = memoryview(self.source.head[:24])
        yield META, -1, 0, -1, head, 0, 24, 0, 0
        rec = struct.Struct(self._endian + "II")
        unpack_from = rec.unpack_from
        mult = 1000 if self._scale == 1e-6 else 1
        for _frame, _ts, buf, start, end in self._pcap_records(True):
            sec, frac = unpack_from(buf, start)
            yield PACKET, 0, sec * 1_000_000_000 + frac * mult, 0, buf, start, end, start + 16, end

    def _pcap_records(self, want_raw: bool, select=None):
        rec = struct.Struct(self._endian + "IIII")
        linktype = self.info.interfaces[0].linktype if self.info.interfaces else -1
        unpack_from = rec.unpack_from
        scale = self._scale
        snap_limit = max(self.info.interfaces[0].snaplen, 262144) if self.info.interfaces else MAX_RECORD
        frame = 0
        tail = b""
        first = True
        ts = 0.0
        for buf, last in self._buffers():
            if tail:
                buf = bytes(tail) + bytes(buf)
            n = len(buf)
            if first and n < 24 and not last:
                tail = buf  # a first chunk shorter than the global header
                continue
            off = 24 if first else 0
            first = False
            release_at = RELEASE_EVERY
            mv = buf if isinstance(buf, memoryview) else memoryview(buf)
            while off + 16 <= n:
                sec, frac, caplen, origlen = unpack_from(mv, off)
                end = off + 16 + caplen
                if caplen > snap_limit and caplen > MAX_RECORD // 16:
                    self._warn(f"record after frame {frame} claims {caplen} bytes: file is corrupt from "
                               f"byte offset {off}; reading stopped there")
                    self.info.truncated = True
                    self._finish(frame, ts)
                    return
                if end > n:
                    break
                frame += 1
                ts = sec + frac * scale
                if frame == 1:
                    self.info.first_ts = ts
                if want_raw:
                    yield frame, ts, mv, off, end
                else:
                    data = mv[off + 16:end]
                    if select is None or select(linktype, data):
                        yield frame, ts, data, origlen
                off = end
                if off > release_at:
                    release_at = _release(mv, off)
            tail = mv[off:] if off < n else b""
            if last:
                self._end_of_data(frame, len(tail))
        self._finish(frame, ts)

    def _finish(self, frames: int, ts: float) -> None:
        self.info.packets = frames
        if frames:
            self.info.last_ts = ts

    def _pcap_packets(self, select):
        for frame, ts, data, origlen in self._pcap_records(False, select):
            yield frame, ts, 0, data, origlen

    def _pcap_blocks(self):
        yield META, 0.0, memoryview(self.source.head[:24])
        for _frame, ts, buf, start, end in self._pcap_records(True):
            yield PACKET, ts, buf[start:end]

    # -- pcapng -------------------------------------------------------------

    def _pcapng_blocks(self, want_raw: bool):
        info = self.info
        frame = 0
        ts = 0.0
        ts_ns = 0
        tail = b""
        endian = "<"
        hdr = struct.Struct("<II")
        base = 0
        # each pass re-reads the IDBs and secrets: start their lists afresh (in place,
        # as callers may hold references to them)
        info.interfaces.clear()
        info.tls_keylog.clear()
        for buf, last in self._buffers():
            if tail:
                buf = bytes(tail) + bytes(buf)
            mv = buf if isinstance(buf, memoryview) else memoryview(buf)
            n = len(mv)
            off = 0
            release_at = RELEASE_EVERY
            while off + 12 <= n:
                btype = struct.unpack_from("<I", mv, off)[0]
                if btype == PCAPNG_SHB:
                    bom = bytes(mv[off + 8:off + 12])
                    endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                    hdr = struct.Struct(endian + "II")
                    # a new section numbers its interfaces from 0 again; info.interfaces
                    # keeps them all (callers hold on to the list), so map by an offset
                    base = len(info.interfaces)
                btype, blen = hdr.unpack_from(mv, off)
                if blen < 12 or blen % 4 or blen > MAX_RECORD:
                    self._warn(f"pcapng block after frame {frame} has impossible length {blen}: file is "
                               f"corrupt from byte offset {off}; reading stopped there")
                    info.truncated = True
                    self._finish(frame, ts)
                    return
                end = off + blen
                if end > n:
                    break
                body = mv[off + 8:end - 4]
                raw = (mv, off, end, btype, 0, 0, 0) if want_raw else None
                if btype in (BT_EPB, BT_OPB, BT_SPB, BT_IDB, BT_DSB) and len(body) < _MIN_BODY[btype]:
                    self._warn(f"pcapng block of type {btype} after frame {frame} is too short "
                               f"({len(body)} bytes of body); kept as an unknown block")
                    yield META, frame, ts, -1, None, 0, raw
                elif btype == BT_EPB or btype == BT_OPB:
                    if btype == BT_EPB:
                        iface, hi, lo, caplen, origlen = struct.unpack_from(endian + "IIIII", body, 0)
                        data = body[20:20 + caplen]
                    else:
                        iface, _drops, hi, lo, caplen, origlen = struct.unpack_from(endian + "HHIIII", body, 0)
                        data = body[20:20 + caplen]
                    iface += base
                    if iface >= len(info.interfaces):
                        iface = self._undeclared(iface - base, frame + 1)
                    ifc = info.interfaces[iface]
                    frame += 1
                    ticks = (hi << 32) | lo
                    ts = ticks * ifc.tsresol + ifc.tsoffset
                    if want_raw:
                        ts_ns = ifc.ts_ns(ticks)
                        dstart = off + 28
                        raw = (mv, off, end, btype, ts_ns, dstart, dstart + len(data))
                    if frame == 1:
                        info.first_ts = ts
                    yield PACKET, frame, ts, iface, data, origlen, raw
                elif btype == BT_SPB:
                    origlen = struct.unpack_from(endian + "I", body, 0)[0]
                    iface = base if base < len(info.interfaces) else self._undeclared(0, frame + 1)
                    snap = info.interfaces[iface].snaplen
                    caplen = min(origlen, snap, len(body) - 4) if snap else min(origlen, len(body) - 4)
                    frame += 1
                    if frame == 1:
                        info.first_ts = ts
                    # simple packet blocks carry no timestamp: keep the previous one
                    if want_raw:
                        raw = (mv, off, end, btype, ts_ns, off + 12, off + 12 + caplen)
                    yield PACKET, frame, ts, iface, body[4:4 + caplen], origlen, raw
                elif btype == BT_IDB:
                    linktype, _res, snaplen = struct.unpack_from(endian + "HHI", body, 0)
                    info.interfaces.append(self._idb_options(Interface(linktype, snaplen), body[8:], endian))
                    yield META, frame, ts, -1, None, 0, raw
                elif btype == BT_DSB:
                    stype, slen = struct.unpack_from(endian + "II", body, 0)
                    if stype == SECRETS_TLS_KEYLOG:
                        info.tls_keylog.append(bytes(body[8:8 + slen]))
                    yield META, frame, ts, -1, None, 0, raw
                else:
                    # SHB, statistics, name resolution, custom and unknown blocks
                    yield META, frame, ts, -1, None, 0, raw
                off = end
                if off > release_at:
                    release_at = _release(mv, off)
            tail = mv[off:] if off < n else b""
            if last:
                self._end_of_data(frame, len(tail))
        self._finish(frame, ts)

    def _undeclared(self, iface: int, frame: int) -> int:
        """A packet names an interface no IDB described: keep the frame (numbering and the
        read = decoded + skipped identity hold) on a placeholder the link layer will skip."""
        ifs = self.info.interfaces
        self._warn(f"frame {frame} names interface {iface} that was never described "
                   f"(such frames are counted but not decoded)")
        if not ifs or ifs[-1].linktype != LINKTYPE_UNDECLARED:
            ifs.append(Interface(LINKTYPE_UNDECLARED, 0, name="(undeclared)"))
        return len(ifs) - 1

    @staticmethod
    def _idb_options(ifc: Interface, opts: memoryview, endian: str) -> Interface:
        off = 0
        while off + 4 <= len(opts):
            code, length = struct.unpack_from(endian + "HH", opts, off)
            val = opts[off + 4:off + 4 + length]
            if code == 0:
                break
            if code == 2:
                ifc.name = bytes(val).decode("utf-8", "replace")
            elif code == 9 and length >= 1:
                v = val[0]
                ifc.tsresol = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
                ifc.ticks_per_sec = 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
            elif code == 14 and length == 8:
                ifc.tsoffset = struct.unpack_from(endian + "q", val, 0)[0]
            off += 4 + ((length + 3) & ~3)
        return ifc


def read_info(path: str) -> CaptureInfo:
    """Walk a whole capture once and return what it holds (for headers and tests)."""
    r = CaptureReader(path)
    for _ in r.packets():
        pass
    return r.info
