"""Answers captured before what they answer, held per direction in stream order.

A connection's held segments wait until the bytes they answer arrive or their reordering window is
over.  Each direction's data reaches the decoder in sequence, so only the first held segment of each
side in its stream (a heap by sequence number) can go next, and of the two sides' first the one
captured earlier.  A first segment taken out and found still waiting goes back with its window
unchanged, so releasing always moves forward.  (In capture order instead, a segment captured after
a later one of its side waited behind it while that one waited for the peer's answer to it: two
swapped records waited out the window and became gaps; and re-queued at the end of one shared
list, two segments of one side swapped places forever.)
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Callable

from ..capture.segment import Segment
from .connection import ACK_JUMP_LIMIT, ENTRY_COST, M32, signed32


@dataclass(slots=True, eq=False)
class HeldSegment:
    seg: Segment  # its payload a copy: the reader's buffer moves on
    ts: float
    frame: int
    need: int | None  # offset of the peer's stream it answers up to (None: the peer not seen yet)
    mark: int  # the connection's `news` when first held: its reordering window starts there
    order: int  # capture order among held segments

    @property
    def cost(self) -> int:
        return len(self.seg.payload) + ENTRY_COST


class HeldAnswers:
    __slots__ = ("sides", "bases", "bytes", "_count")

    def __init__(self) -> None:
        # per direction a heap of (sequence number relative to `bases[d]`, capture order, segment)
        self.sides: tuple[list, list] = ([], [])
        self.bases = [0, 0]
        self.bytes = 0  # memory held, bookkeeping included
        self._count = 0

    def __bool__(self) -> bool:
        return bool(self.sides[0] or self.sides[1])

    def holds(self, d: int) -> bool:
        return bool(self.sides[d])

    def first(self, d: int) -> HeldSegment | None:
        """The held segment of direction d that comes first in its stream."""
        side = self.sides[d]
        return side[0][2] if side else None

    def _position(self, d: int, seq: int) -> int:
        """Where `seq` sorts in side d: before its base only when plausibly close (a stray segment
        from far away, e.g. of an earlier connection on the same ports, sorts after, as captured)."""
        rel = signed32(seq - self.bases[d])
        return rel if rel > -ACK_JUMP_LIMIT else rel & M32

    def before_first(self, d: int, seq: int) -> bool:
        """`seq` comes before the first held segment of side d (which must hold one)."""
        return self._position(d, seq) < self.sides[d][0][0]

    def add(self, d: int, seg: Segment, ts: float, frame: int, need: int | None, mark: int) -> None:
        self._count += 1
        self._push(d, HeldSegment(seg, ts, frame, need, mark, self._count))

    def put_back(self, d: int, entry: HeldSegment, need: int | None) -> None:
        """A segment taken by `take` that must wait longer: in its place again, same window."""
        entry.need = need
        self._push(d, entry)

    def _push(self, d: int, entry: HeldSegment) -> None:
        if not self.sides[d]:
            self.bases[d] = entry.seg.seq
        heappush(self.sides[d], (self._position(d, entry.seg.seq), entry.order, entry))
        self.bytes += entry.cost

    def take(self, ready: Callable[[int, HeldSegment], bool]) -> tuple[int, HeldSegment] | None:
        """Remove and return, of the two sides' first segments for which `ready(direction, entry)`
        holds, the one captured earlier."""
        best = None
        for d in (0, 1):
            entry = self.first(d)
            if entry is not None and (best is None or entry.order < best[1].order) and ready(d, entry):
                best = (d, entry)
        if best is not None:
            heappop(self.sides[best[0]])
            self.bytes -= best[1].cost
        return best

    def unanswered(self, d: int) -> list[HeldSegment]:
        """Held segments of direction d that wait for a peer not seen yet."""
        return [e for _rel, _order, e in self.sides[d] if e.need is None]
