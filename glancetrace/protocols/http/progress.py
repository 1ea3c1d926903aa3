"""A body's bytes over time, in constant memory: at most MAX_POINTS (time, bytes so far) points and
MAX_GAPS capture gaps, whatever the body's size.  The bytes themselves are never kept.

Points closer in time than the current resolution `dt` are not recorded; when the list fills up,
`dt` doubles and the list is thinned to half.  The point just before a pause in the flow is kept
however close it is to the previous one, so a stall stays a flat stretch in the drawn line instead
of becoming a slope.  Recording is O(1) amortised per segment (a thinning pass every MAX_POINTS/2
points at least).
"""

from __future__ import annotations

import math

MAX_POINTS = 200
MAX_GAPS = 50


class Progress:
    __slots__ = ("points", "gaps", "gaps_dropped", "dt", "_ts", "_total", "_at", "_pending")

    def __init__(self) -> None:
        self.points: list[tuple[float, int]] = []
        self.gaps: list[tuple[float, int, int]] = []  # (time, offset in the body, bytes lost)
        self.gaps_dropped = 0
        self.dt = 0.0
        # the latest data, recorded or not (two numbers, not a tuple: this runs for every segment of a body)
        self._ts = -math.inf
        self._total: int | None = None
        self._at = -math.inf  # the time of the last point recorded (points[-1]: thinning keeps it)
        self._pending = False  # the latest data is not recorded

    def add(self, ts: float, total: int) -> None:
        """`total` body bytes (lost ones included) had arrived at `ts`.  (A body's sink tests the first case
        itself, inline: http/body.py BodySink.feed.)"""
        last_ts = self._ts
        if ts < last_ts:
            ts = last_ts  # bytes held back behind a gap reach the decoder when the gap is given up on
        if ts - self._at < self.dt:
            self._ts, self._total, self._pending = ts, total, True
            return
        pts = self.points
        if self._pending and ts - last_ts >= self.dt:
            pts.append((last_ts, self._total))  # the flow paused after the latest: keep where the pause began
        pts.append((ts, total))
        self._ts, self._total, self._pending, self._at = ts, total, False, ts
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

    def series(self) -> list[tuple[float, int]]:
        """The series, ending with the last bytes seen (its last point is the body's size)."""
        if self._total is not None and (not self.points or self.points[-1] != (self._ts, self._total)):
            self.points.append((self._ts, self._total))
        return self.points
