"""The TCP facts of one connection as an event (made by tcp/stalls.py, which watches every segment): its
zero-window and window-full periods, retransmissions and FIN/RSTs — who stalled and who hung up."""

from __future__ import annotations

from dataclasses import dataclass

from ..tcp.stalls import TcpEnd, ZeroWindow
from ..tcp.window_full import WindowFull
from .base import ConnectionEvent


@dataclass
class TcpFacts(ConnectionEvent):
    """One connection's stalls and ends, with its origin as every event has (capture, tcp.stream)."""

    zero_windows: tuple[ZeroWindow, ...] = ()
    zero_window_count: tuple[int, int] = (0, 0)  # periods on the client, on the server (also those not kept)
    zero_window_seconds: tuple[float, float] = (0.0, 0.0)  # total time each side's window stayed 0
    retransmissions: tuple[int, int] = (0, 0)  # data segments resent client → server, server → client
    ends: tuple[TcpEnd, ...] = ()
    # Wireshark's "window full" periods (tcp/window_full.py): the first 16, then per side one fold of the rest
    window_full: tuple[WindowFull, ...] = ()
    window_full_count: tuple[int, int] = (0, 0)  # periods with the client's, the server's window full (all)
    window_full_seconds: tuple[float, float] = (0.0, 0.0)  # total time each side's window stayed full
    window_scale: tuple[int | None, int | None] = (None, None)  # each side's window scale shift; None: unknown

    @property
    def first_frame(self) -> int:
        frames = ([z.frames[0] for z in self.zero_windows] + [p.frames[0] for p in self.window_full]
                  + [e.frame for e in self.ends])
        return min(frames, default=0)

    def first_end(self, kind: str | None = None, sender: str | None = None) -> TcpEnd | None:
        for e in self.ends:
            if (kind is None or e.kind == kind) and (sender is None or e.sender == sender):
                return e
        return None
