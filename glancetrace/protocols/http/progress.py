"""A body's bytes over time, in constant memory: at most MAX_POINTS (time, bytes so far) points and
MAX_GAPS capture gaps, whatever the body's size.  The bytes themselves are never kept.

Points closer in time than the current resolution `dt` are not recorded; when the list fills up,
`dt` doubles and the list is thinned to half.  The point just before a pause in the flow is kept
however close it is to the previous one, so a stall stays a flat stretch in the drawn line instead
of becoming a slope.  Recording is O(1) amortised per segment (a thinning pass every MAX_POINTS/2
points at least).
"""

from __future__ import annotations

MAX_POINTS = 200
MAX_GAPS = 50


class Progress:
    __slots__ = ("points", "gaps", "gaps_dropped", "dt", "_last")

    def __init__(self) -> None:
        self.points: list[tuple[float, int]] = []
        self.gaps: list[tuple[float, int, int]] = []  # (time, offset in the body, bytes lost)
        self.gaps_dropped = 0
        self.dt = 0.0
        self._last: tuple[float, int] | None = None  # the latest data, recorded or not

    def add(self, ts: float, total: int) -> None:
        """`total` body bytes (lost ones included) had arrived at `ts`."""
        pts = self.points
        last = self._last
        if last is not None and ts < last[0]:
            ts = last[0]  # bytes held back behind a gap reach the decoder when the gap is given up on
        self._last = (ts, total)
        if not pts:
            pts.append(self._last)
            return
        if ts - pts[-1][0] < self.dt:
            return
        if last is not None and last is not pts[-1] and ts - last[0] >= self.dt:
            pts.append(last)  # the flow paused after `last`: keep where the pause began
        pts.append(self._last)
        if len(pts) >= MAX_POINTS:
            self._thin()

    def gap(self, ts: float, offset: int, nbytes: int) -> None:
        if len(self.gaps) < MAX_GAPS:
            self.gaps.append((ts, offset, nbytes))
        else:
            self.gaps_dropped += 1

    def _thin(self) -> None:
        pts = self.points
        span = pts[-1][0] - pts[0][0]
        while len(pts) > MAX_POINTS // 2:
            self.dt = max(self.dt * 2, span / MAX_POINTS, 1e-6)
            kept = [pts[0]]
            for i in range(1, len(pts) - 1):
                t = pts[i][0]
                if t - kept[-1][0] >= self.dt or pts[i + 1][0] - t >= self.dt:
                    kept.append(pts[i])
            kept.append(pts[-1])
            pts = kept
        self.points = pts

    def finish(self) -> list[tuple[float, int]]:
        """The series, ending with the last bytes seen (its last point is the body's size)."""
        if self._last is not None and (not self.points or self.points[-1] != self._last):
            self.points.append(self._last)
        return self.points
