"""The input, planned once before the pass: which files, in what order, read as pieces of
one capture or as captures of several hosts, their clock offsets, and how many processes.

Pieces (`editcap -c`, `tcpdump -C` rotation) share a link type and follow each other in
time without overlap: they are read as one continuous stream, in time order, so a TCP
connection that goes on into the next piece goes on in the reassembler too.  Captures
that overlap in time are several hosts' views of one incident: each is read on its own,
with its clock shifted onto the first capture's.  `read_as` forces either reading.

Only what is cheap is probed: the header and the first record for the link type and the
first time, and the last records read from the end of the file (CaptureReader.last_records).  A gzip'd
file has no end to look at: it is walked.  A pipe is not probed at all (it can be read
only once): it must be the only input and it is read as one capture, in one process.
"""

from __future__ import annotations

import bisect
import os
from collections import deque
from dataclasses import dataclass, field
from itertools import islice

from ..errors import UnusableInput
from .clock import estimate_group_offsets
from .link import LinkDecoder
from .segment import FIN, SYN
from .pcapfile import CaptureReader
from .source import is_pipe

READ_AS = ("auto", "pieces", "hosts")
EDGE_RECORDS = 32  # records read at each end of a file to see which connections go on across it
SILENT_GAP = 10.0  # seconds: files with no connection in common are pieces only when this close
RETRANSMIT_WINDOW = 256 << 10  # a piece may begin by repeating up to this many bytes of the last


@dataclass
class ClockOffset:
    seconds: float = 0.0  # added to this capture's times to put them on the first capture's clock
    source: str = "reference"  # reference | given | estimated | assumed (no segment in common)
    segments: int = 0  # TCP segments both captures saw, that the estimate is the median over


@dataclass
class PlannedFile:
    path: str
    group: int  # the capture it belongs to (pieces of one capture share it)
    piece: int  # its place among the group's pieces, in time order (0 for a whole capture)
    format: str = ""
    linktype: int | None = None  # of the first interface
    first_ts: float | None = None
    last_ts: float | None = None
    stream: bool = False  # a pipe: read once, in one process
    reader: CaptureReader | None = field(default=None, repr=False)  # kept for a pipe, opened once
    # per TCP direction (addresses, ports): sequence number of the first segment in the file's
    # first records, and of the byte after the last segment in its last records
    head: dict[tuple, int] = field(default_factory=dict, repr=False)
    tail: dict[tuple, int] = field(default_factory=dict, repr=False)


@dataclass
class InputPlan:
    files: list[PlannedFile]  # in reading order; a file's index is its capture index
    groups: list[list[int]]  # file indexes of each capture, pieces in time order
    offsets: list[ClockOffset]  # one per group
    read_as: str = "auto"
    jobs: int = 1
    notes: list[str] = field(default_factory=list)  # what was decided, for stderr

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def offset_of(self, index: int) -> ClockOffset:
        return self.offsets[self.files[index].group]

    def reader(self, index: int) -> CaptureReader:
        f = self.files[index]
        if f.reader is not None:
            r, f.reader = f.reader, None
            return r
        return CaptureReader(f.path)

    def has_pieces(self) -> bool:
        return any(len(g) > 1 for g in self.groups)

    @property
    def sequential(self) -> bool:
        """Pieces follow on from each other and a pipe can be read once: one process reads them."""
        return self.has_pieces() or any(f.stream for f in self.files)


@dataclass
class PieceMap:
    """Frames and tcp.stream numbers of one capture read from pieces: the pass numbers frames
    across the pieces (as the whole capture would); evidence is given in each piece's own."""
    files: list[int]  # capture index of each piece
    bases: list[int]  # frames in the pieces before each piece
    streams: dict[tuple[int, int], int] = field(default_factory=dict)  # (stream, piece) → piece's tcp.stream

    def piece_of(self, frame: int) -> int:
        return max(0, bisect.bisect_left(self.bases, frame) - 1)

    def local(self, frame: int) -> tuple[int, int]:
        """(capture index, frame number in that piece) of a frame counted across the pieces."""
        k = self.piece_of(frame)
        return self.files[k], frame - self.bases[k]


# -- probing ---------------------------------------------------------------------------------

def _edges(link: LinkDecoder, frames) -> dict[tuple, tuple[int, int]]:
    """Per TCP direction: (sequence number of its first segment, of the byte after its last)."""
    out: dict[tuple, tuple[int, int]] = {}
    for lt, data in frames:
        seg = link.decode(lt, memoryview(data))
        if seg is None:
            continue
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        nxt = (seg.seq + len(seg.payload) + seg.missing + bool(seg.flags & (SYN | FIN))) & 0xFFFFFFFF
        out[key] = (out[key][0] if key in out else seg.seq, nxt)
    return out


def probe(path: str) -> PlannedFile:
    """Format, link type, time range and the TCP directions at each end of one capture file,
    read from its ends when it can be (a gzip'd file, or an end not found, is walked)."""
    reader = CaptureReader(path)
    info = reader.info
    pf = PlannedFile(path=path, group=0, piece=0, format=info.format, stream=reader.source.stream)
    if pf.stream:
        pf.reader = reader
        if info.interfaces:
            pf.linktype = info.interfaces[0].linktype
        return pf
    it = reader.packets()
    ifaces = info.interfaces
    head = [(ifaces[iface].linktype, bytes(data)) for _, _, iface, data, _ in islice(it, EDGE_RECORDS)]
    if not head:
        pf.linktype = ifaces[0].linktype if ifaces else None
        return pf
    pf.linktype = ifaces[0].linktype
    pf.first_ts = info.first_ts
    found = reader.last_records(EDGE_RECORDS)
    tail = [(linktype, data) for linktype, _ts, data in found]
    pf.last_ts = found[-1][1] if found else None
    if pf.last_ts is None:  # gzip, or an end that could not be read backwards: walk it
        last = deque(head, maxlen=EDGE_RECORDS)
        last.extend((ifaces[iface].linktype, bytes(data)) for _, _, iface, data, _ in it)
        tail = list(last)
        pf.last_ts = info.last_ts
    link = LinkDecoder()
    pf.head = {k: v[0] for k, v in _edges(link, head).items()}
    pf.tail = {k: v[1] for k, v in _edges(link, tail).items()}
    return pf


# -- grouping ------------------------------------------------------------------------------

def continues(a: PlannedFile, b: PlannedFile) -> bool:
    """Does `b` take up where `a` ends?  Same link type, no overlap in time, and the connections at
    `a`'s end that show up at `b`'s start go on with the next sequence numbers (or repeat a few
    bytes: a retransmission across the cut).  Without a connection in common, only files that
    follow within SILENT_GAP seconds are taken for pieces."""
    if a.linktype != b.linktype or a.last_ts is None or b.first_ts is None or a.last_ts > b.first_ts:
        return False
    common = [k for k in b.head if k in a.tail]
    if not common:
        return b.first_ts - a.last_ts <= SILENT_GAP
    return all((a.tail[k] - b.head[k]) & 0xFFFFFFFF <= RETRANSMIT_WINDOW for k in common)


def _chains(files: list[PlannedFile]) -> list[list[int]]:
    """Files in time order, each put after the chain that ends last before it starts and that it
    continues: the pieces of one capture make one chain, overlapping captures several."""
    order = sorted(range(len(files)), key=lambda i: (files[i].first_ts is None, files[i].first_ts or 0.0, i))
    chains: list[list[int]] = []
    for i in order:
        f = files[i]
        best = None
        if f.first_ts is not None and f.last_ts is not None:
            for c in chains:
                tail = files[c[-1]]
                if continues(tail, f) and (best is None or files[best[-1]].last_ts < tail.last_ts):
                    best = c
        if best is None:
            chains.append([i])
        else:
            best.append(i)
    # captures keep the order they were given in (the first is the reference clock)
    chains.sort(key=min)
    return chains


def _groups(files: list[PlannedFile], read_as: str) -> list[list[int]]:
    if read_as == "hosts" or len(files) == 1:
        return [[i] for i in range(len(files))]
    if read_as == "pieces":
        return [sorted(range(len(files)), key=lambda i: (files[i].first_ts is None, files[i].first_ts or 0.0, i))]
    return _chains(files)


def plan_input(paths: list[str], read_as: str = "auto", offsets: dict[str, float] | None = None,
               jobs: int = 1, estimate_clocks: bool = True) -> InputPlan:
    """The plan of one pass: files probed (when there are several), grouped, ordered; clock offsets
    given or estimated for each capture after the first; one process when pieces or a pipe are read."""
    if read_as not in READ_AS:
        raise ValueError(f"read_as must be one of {READ_AS}")
    offsets = offsets or {}
    piped = [p for p in paths if is_pipe(p)]
    if piped and len(paths) > 1:
        raise UnusableInput(f"{piped[0]}: a pipe can be read only once, so it must be the only capture given")
    if piped:
        files = [probe(paths[0])]
    elif len(paths) == 1 or read_as == "hosts":
        files = [PlannedFile(path=p, group=i, piece=0) for i, p in enumerate(paths)]
    else:
        files = [probe(p) for p in paths]
    ordered, groups = [], []
    for g, members in enumerate(_groups(files, read_as)):
        groups.append(list(range(len(ordered), len(ordered) + len(members))))
        for k, i in enumerate(members):
            files[i].group, files[i].piece = g, k
            ordered.append(files[i])
    plan = InputPlan(files=ordered, groups=groups, offsets=[ClockOffset() for _ in groups], read_as=read_as)
    _clocks(plan, offsets, estimate_clocks)
    plan.jobs = 1 if plan.sequential else max(1, jobs)
    _describe(plan)
    return plan


def _clocks(plan: InputPlan, given: dict[str, float], estimate: bool) -> None:
    """A capture's offset is given (for any of its pieces' paths) or estimated against the first."""
    todo = []
    for g, members in enumerate(plan.groups):
        paths = [plan.files[i].path for i in members]
        hit = next((p for p in paths if p in given), None)
        empty = all(plan.files[i].format and plan.files[i].first_ts is None for i in members)
        if hit is not None:
            plan.offsets[g] = ClockOffset(given[hit], "given")
        elif g and not empty:  # an empty file (editcap -i writes one per silent interval) has no clock
            todo.append(g)
    if todo and estimate:
        ref = [plan.files[i].path for i in plan.groups[0]]
        others = [[plan.files[i].path for i in plan.groups[g]] for g in todo]
        for g, (secs, n) in zip(todo, estimate_group_offsets(ref, others)):
            plan.offsets[g] = ClockOffset(secs, "estimated" if n else "assumed", n)


def _describe(plan: InputPlan) -> None:
    first = os.path.basename(plan.files[0].path) if plan.files else ""
    for g, members in enumerate(plan.groups):
        names = [os.path.basename(plan.files[i].path) for i in members]
        if len(members) > 1:
            plan.notes.append(f"read {len(members)} files as pieces of one capture, in time order: "
                              f"{names[0]} … {names[-1]}")
        off = plan.offsets[g]
        if off.source == "estimated":
            plan.notes.append(f"clock of {names[0]}: {off.seconds:+.6f} s relative to {first} "
                              f"(from {off.segments:,} segments seen in both)")
        elif off.source == "assumed":
            plan.notes.append(f"clock of {names[0]}: no segment in common with {first}: assumed 0; "
                              f"give --offset FILE=SECONDS")
