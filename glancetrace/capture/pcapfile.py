"""Walk the records of a classic pcap or pcapng capture, plain, gzip'd or from a pipe: the
one record walker, for every pass, the input planner and `glancetrace split`.

`packets()` is the hot path: it yields `(frame, ts, iface, data, origlen)` with
`data` a memoryview into the file's mapping (no copy).  `spans()` yields where every
record lies in its buffer, for writers that copy records verbatim (`glancetrace split`);
`runs()` where whole runs of them lie, cut where editcap -c / -i starts a new file (one
tuple per run, not per record: what makes split as fast as editcap).
`last_records()` reads the last records from the end of the file without walking it
(the planner's probe).  Frames are numbered from 1, as Wireshark does.
"""

from __future__ import annotations

import mmap
import struct
from typing import Callable, Iterator

from ..errors import UnusableInput
from .formats import (BT_DSB, BT_EPB, BT_IDB, BT_OPB, BT_SPB, LINKTYPE_UNDECLARED, MAX_RECORD, META, MIN_BODY,
                      PACKET, PCAP_HEADER, PCAP_MAGICS, PCAPNG_BYTE_ORDER, PCAPNG_SHB, SECRETS_TLS_KEYLOG,
                      CaptureInfo, Interface, idb_options)
from .source import Source, open_source

NS = 1_000_000_000
TAIL = 128 << 10  # bytes searched from the end of a pcap for its last records
RELEASE_EVERY = 8 << 20  # (64 MiB kept up to 64 MiB of the file in RSS: a flood of short connections in a
# 56 MiB capture seemed to grow memory by 14 MiB per 100k connections; re-reading a released page is a minor fault)
RUN_EVERY = RELEASE_EVERY  # runs() ends a run where it releases pages (split's peak memory)
NEVER = 1 << 62  # a frame number or an ns time no capture reaches
PACKETS, SPANS, RUNS = range(3)  # what the pcap record loop yields


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


class RunCuts:
    """Where editcap -c COUNT / -i SECONDS starts a new file: every `count` packets, or at the
    first packet past each `step_ns` interval counted from the first packet's time."""

    def __init__(self, count: int = 0, step_ns: int = 0):
        self.count, self.step = count, step_ns
        self.next_frame = 1 if count else NEVER  # with -c: the packet that starts the next file
        self.boundary = -1 if not count else NEVER  # with -i: the end of the current interval (ns)

    def at(self, frame: int, ts_ns: int) -> int:
        """How many files start at this packet: 0, 1, or more with -i when whole intervals had no
        packet (editcap writes an empty file for each)."""
        if self.count:
            if frame < self.next_frame:
                return 0
            self.next_frame = frame + self.count
            return 1
        if ts_ns <= self.boundary:
            return 0
        if self.boundary < 0:
            self.boundary = ts_ns + self.step
            return 1
        cuts = 0
        while ts_ns > self.boundary:
            self.boundary += self.step
            cuts += 1
        return cuts


class CaptureReader:
    """One capture file; iterate `packets()` (or `spans()`) once per pass."""

    def __init__(self, path: str):
        self.source: Source = open_source(path)
        head = self.source.head
        if len(head) < 4:
            raise UnusableInput(f"{path}: empty or too short to be a capture ({len(head)} bytes)")
        if head[:4] in PCAP_MAGICS:
            fmt = "pcap"
            if len(head) < PCAP_HEADER:
                raise UnusableInput(f"{path}: pcap global header is cut short ({len(head)} of 24 bytes)")
        elif struct.unpack("<I", head[:4])[0] == PCAPNG_SHB:
            fmt = "pcapng"
            if len(head) < 12 or head[8:12] not in PCAPNG_BYTE_ORDER:
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

    def _joined(self, tail, buf) -> memoryview:
        """The next buffer, after what the last one left unparsed (a record cut by a chunk's end)."""
        if tail:
            buf = bytes(tail) + bytes(buf)
        return buf if isinstance(buf, memoryview) else memoryview(buf)

    def _leftover(self, mv: memoryview, off: int, last: bool, frames: int):
        """What a buffer's walk left unparsed at `off`: kept for the next buffer, or reported at the end."""
        tail = mv[off:] if off < len(mv) else b""
        if last:
            self._end_of_data(frames, len(tail))
        return tail

    def packets(self, select: Callable[[int, memoryview], bool] | None = None
                ) -> Iterator[tuple[int, float, int, memoryview, int]]:
        """(frame number, seconds, interface, frame bytes, original length) of every packet,
        or of those `select(linktype, bytes)` keeps: a shard of a parallel pass skips the
        others before a tuple is made for them, which is most of what walking them costs."""
        if self.info.format == "pcap":
            return self._pcap_records(PACKETS, select)
        return self._pcapng_packets(select)

    def spans(self) -> Iterator[tuple[int, int, int, int, memoryview, int, int, int, int]]:
        """(META|PACKET, block type, ts in integer ns, interface, buffer, start, end,
        data start, data end) of every record.

        For writers that copy records verbatim: `buffer[start:end]` is the record, and
        consecutive records of one buffer are contiguous, so a writer can copy a run of
        them with one write.  pcap: the global header is a META with block type -1 and
        packets have block type 0; pcapng: the block type.  Timestamps are exact
        integers (float seconds lose nanoseconds)."""
        if self.info.format == "pcap":
            yield META, -1, 0, -1, memoryview(self.source.head[:PCAP_HEADER]), 0, PCAP_HEADER, 0, 0
            yield from self._pcap_records(SPANS)
        else:
            for kind, _frame, _ts, iface, _data, _origlen, raw in self._pcapng_blocks(True):
                buf, start, end, btype, ts_ns, dstart, dend = raw
                yield kind, btype, ts_ns, iface, buf, start, end, dstart, dend

    def runs(self, cut: RunCuts) -> Iterator[tuple[int, int, int, memoryview, int, int, int, int]]:
        """(META|PACKET, block type, ts in integer ns, buffer, start, end, packets, files) of runs
        of consecutive records: a META record alone (as spans() gives it), else `buffer[start:end]`
        holds `packets` packet records, the first at `ts`, and `files` new files start at that
        first packet (`cut`'s rule; 0: the run goes on in the current file).  A run ends where a
        file starts, at a metadata record, at the end of a buffer and every RUN_EVERY bytes."""
        if self.info.format == "pcap":
            yield META, -1, 0, memoryview(self.source.head[:PCAP_HEADER]), 0, PCAP_HEADER, 0, 0
            yield from self._pcap_records(RUNS, cut=cut)
        else:
            yield from self._pcapng_runs(cut)

    def _pcap_records(self, mode: int, select=None, cut: RunCuts | None = None):
        """Every record, as packets(), spans() or runs() gives it (one loop: the hot path)."""
        rec = struct.Struct(self._endian + "IIII")
        linktype = self.info.interfaces[0].linktype if self.info.interfaces else -1
        unpack_from = rec.unpack_from
        scale = self._scale
        mult = 1000 if scale == 1e-6 else 1  # integer nanoseconds per tick
        snap_limit = max(self.info.interfaces[0].snaplen, 262144) if self.info.interfaces else MAX_RECORD
        next_frame, boundary = (cut.next_frame, cut.boundary) if cut else (NEVER, NEVER)
        boundary_sec = boundary // NS  # a record of an earlier second cannot pass the boundary
        frame = 0
        tail = b""
        first = True
        ts = 0.0
        corrupt = False
        per_packet, per_span = mode == PACKETS, mode == SPANS
        for buf, last in self._buffers():
            mv = self._joined(tail, buf)
            n = len(mv)
            if first and n < PCAP_HEADER and not last:
                tail = mv  # a first chunk shorter than the global header
                continue
            off = PCAP_HEADER if first else 0
            first = False
            release_at = RELEASE_EVERY
            run_at, run_frame, run_ts, files = off, frame, 0, 0  # the run of records not yielded yet
            while off + 16 <= n:
                sec, frac, caplen, origlen = unpack_from(mv, off)
                end = off + 16 + caplen
                if caplen > snap_limit and caplen > MAX_RECORD // 16:
                    self._warn(f"record after frame {frame} claims {caplen} bytes: file is corrupt from "
                               f"byte offset {off}; reading stopped there")
                    self.info.truncated = corrupt = True
                    break
                if end > n:
                    break
                frame += 1
                ts = sec + frac * scale
                if frame == 1:
                    self.info.first_ts = ts
                if per_packet:
                    data = mv[off + 16:end]
                    if select is None or select(linktype, data):
                        yield frame, ts, 0, data, origlen
                elif per_span:
                    yield PACKET, 0, sec * NS + frac * mult, 0, mv, off, end, off + 16, end
                elif frame >= next_frame or sec >= boundary_sec and sec * NS + frac * mult > boundary:
                    if run_at < off:
                        yield PACKET, 0, run_ts, mv, run_at, off, frame - 1 - run_frame, files
                    run_at, run_frame, run_ts = off, frame - 1, sec * NS + frac * mult
                    files = cut.at(frame, run_ts)
                    next_frame, boundary = cut.next_frame, cut.boundary
                    boundary_sec = boundary // NS
                off = end
                if off > release_at:
                    release_at = _release(mv, off)
                    if mode == RUNS:
                        yield PACKET, 0, run_ts, mv, run_at, off, frame - run_frame, files
                        run_at, run_frame, files = off, frame, 0
            if mode == RUNS and run_at < off:
                yield PACKET, 0, run_ts, mv, run_at, off, frame - run_frame, files
            if corrupt:
                break
            tail = self._leftover(mv, off, last, frame)
        self._finish(frame, ts)

    def _finish(self, frames: int, ts: float) -> None:
        self.info.packets = frames
        if frames:
            self.info.last_ts = ts

    # -- pcapng -------------------------------------------------------------

    def _pcapng_packets(self, select):
        ifaces = self.info.interfaces
        for kind, frame, ts, iface, data, origlen, _raw in self._pcapng_blocks(want_raw=False):
            if kind == PACKET and (select is None or select(ifaces[iface].linktype, data)):
                yield frame, ts, iface, data, origlen

    def _pcapng_runs(self, cut: RunCuts):
        run = None  # [buffer, start, end, packets, ts, files] of the packets not yielded yet
        for kind, frame, _ts, _iface, _data, _origlen, raw in self._pcapng_blocks(True):
            buf, start, end, btype, ts_ns, _ds, _de = raw
            if kind == PACKET:
                files = cut.at(frame, ts_ns)
                if run is not None and not files and buf is run[0] and start == run[2] < run[1] + RUN_EVERY:
                    run[2] = end
                    run[3] += 1
                    continue
            if run is not None:
                yield PACKET, BT_EPB, run[4], run[0], run[1], run[2], run[3], run[5]
                run = None
            if kind == PACKET:
                run = [buf, start, end, 1, ts_ns, files]
            else:
                yield META, btype, ts_ns, buf, start, end, 0, 0
        if run is not None:
            yield PACKET, BT_EPB, run[4], run[0], run[1], run[2], run[3], run[5]

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
            mv = self._joined(tail, buf)
            n = len(mv)
            off = 0
            release_at = RELEASE_EVERY
            while off + 12 <= n:
                btype = struct.unpack_from("<I", mv, off)[0]
                if btype == PCAPNG_SHB:
                    endian = PCAPNG_BYTE_ORDER.get(bytes(mv[off + 8:off + 12]), ">")
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
                if (btype == BT_EPB or btype == BT_OPB) and len(body) >= 20:
                    if btype == BT_EPB:
                        iface, hi, lo, caplen, origlen = struct.unpack_from(endian + "IIIII", body, 0)
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
                elif btype == BT_SPB and len(body) >= 4:
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
                else:
                    self._meta_block(btype, body, endian, frame)
                    yield META, frame, ts, -1, None, 0, raw
                off = end
                if off > release_at:
                    release_at = _release(mv, off)
            tail = self._leftover(mv, off, last, frame)
        self._finish(frame, ts)

    def _meta_block(self, btype: int, body: memoryview, endian: str, frame: int) -> None:
        """What a block other than a packet tells: an interface, decryption secrets (a section
        header, statistics, name resolution, custom and unknown blocks tell nothing here)."""
        if btype in MIN_BODY and len(body) < MIN_BODY[btype]:
            self._warn(f"pcapng block of type {btype} after frame {frame} is too short "
                       f"({len(body)} bytes of body); kept as an unknown block")
        elif btype == BT_IDB:
            linktype, _res, snaplen = struct.unpack_from(endian + "HHI", body, 0)
            self.info.interfaces.append(idb_options(Interface(linktype, snaplen), body[8:], endian))
        elif btype == BT_DSB:
            stype, slen = struct.unpack_from(endian + "II", body, 0)
            if stype == SECRETS_TLS_KEYLOG:
                self.info.tls_keylog.append(bytes(body[8:8 + slen]))

    def _undeclared(self, iface: int, frame: int) -> int:
        """A packet names an interface no IDB described: keep the frame (numbering and the
        read = decoded + skipped identity hold) on a placeholder the link layer will skip."""
        ifs = self.info.interfaces
        self._warn(f"frame {frame} names interface {iface} that was never described "
                   f"(such frames are counted but not decoded)")
        if not ifs or ifs[-1].linktype != LINKTYPE_UNDECLARED:
            ifs.append(Interface(LINKTYPE_UNDECLARED, 0, name="(undeclared)"))
        return len(ifs) - 1

    # -- the last records, read backwards from the end ------------------------------------

    def last_records(self, count: int) -> list[tuple[int, float, bytes]]:
        """(link type, time, frame bytes) of the last `count` packets, oldest first, read from the
        end of the file without walking it; after at least one packet was read (the first time
        bounds the search).  Empty when the file is gzip'd or a pipe, or its end cannot be read
        that way: the caller then walks it."""
        if self.source.compressed or self.source.stream or self.info.first_ts is None:
            return []
        if self.info.format == "pcap":
            linktype = self.info.interfaces[0].linktype
            return [(linktype, ts, data) for ts, data in self._pcap_tail(count)]
        return self._pcapng_tail(count)

    def _pcap_tail(self, count: int) -> list[tuple[float, bytes]]:
        """The last record is the one whose caplen reaches the end exactly (with a plausible
        header); each one before it ends where the next begins, and its header starts with a
        time just before."""
        endian, scale = self._endian, self._scale
        rec = struct.Struct(endian + "IIII")
        sec_bytes = struct.Struct(endian + "I").pack
        frac_limit = 1_000_000 if scale == 1e-6 else 1_000_000_000
        size, first_ts = self.source.size, self.info.first_ts
        start = max(PCAP_HEADER, size - TAIL)
        with open(self.source.path, "rb") as f:
            f.seek(start)
            tail = f.read(size - start)

        def fits(o: int, end: int) -> bool:
            sec, frac, caplen, origlen = rec.unpack_from(tail, o)
            return (caplen == end - o - 16 and origlen >= caplen and frac < frac_limit
                    and first_ts <= sec + 1 and sec < first_ts + 366 * 86400)

        end = len(tail)
        o = next((o for o in range(end - 16, -1, -1) if fits(o, end)), None)
        out = []
        while o is not None and len(out) < count:
            sec, frac = rec.unpack_from(tail, o)[:2]
            out.append((sec + frac * scale, bytes(tail[o + 16:end])))
            end, o = o, None
            for window in (4096, 65536 + 16, end):  # records are short: look close before far
                lo = max(0, end - window)
                for s in (sec, sec - 1) if sec else (sec,):
                    p = tail.rfind(sec_bytes(s), lo, end - 15)
                    while p >= 0 and not fits(p, end):
                        p = tail.rfind(sec_bytes(s), lo, p + 3)
                    if p >= 0 and (o is None or p > o):
                        o = p
                if o is not None:
                    break
        return out[::-1]

    def _pcapng_tail(self, count: int) -> list[tuple[int, float, bytes]]:
        """Found through the trailing block lengths.  Empty when a section or interface block
        comes after the last packets."""
        endian = PCAPNG_BYTE_ORDER[self.source.head[8:12]]
        u32 = struct.Struct(endian + "I")
        ifaces = self.info.interfaces
        out = []
        with open(self.source.path, "rb") as f:
            end = self.source.size
            for _ in range(4 * count):
                if end < 12 or len(out) >= count:
                    break
                f.seek(end - 4)
                blen = u32.unpack(f.read(4))[0]
                if blen < 12 or blen % 4 or blen > end:
                    return []
                f.seek(end - blen)
                block = f.read(blen)
                btype = u32.unpack_from(block, 0)[0]
                if btype == PCAPNG_SHB or btype == BT_IDB:
                    return []  # a section or interface after the last packets: walk instead
                if btype == BT_EPB and blen >= 32:
                    iface, hi, lo, caplen = struct.unpack_from(endian + "IIII", block, 8)
                    if iface >= len(ifaces):
                        return []
                    ifc = ifaces[iface]
                    out.append((ifc.linktype, ((hi << 32) | lo) * ifc.tsresol + ifc.tsoffset,
                                block[28:28 + caplen]))
                end -= blen
        return out[::-1]
