"""Who ended a failed upload, from the TCP facts of its connection (tcp/stalls.py) and the proxies.

A client that gave up and a Glance that stopped reading look alike from HTTP alone (a body cut short).
TCP tells them apart: which side sent the first FIN or RST after the request began, and whether the
server's receive window sat at zero (Glance not reading: a stuck store, a stopped worker) or was full
(tcp/window_full.py: Glance reading slower than the client sent, a slow store) before the client let go.  A proxy (haproxy) that answers with its own 408/502/503/504 while the
backend never answered is a third party ending it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocols.tcp_facts import TcpFacts
from ..tcp.stalls import ZeroWindow
from ..tcp.window_full import WindowFull

STALL_SECONDS = 2.0  # a zero (or full) window this long in all is the receiver stalling, not loopback's blips
PROXY_STATUSES = frozenset({408, 502, 503, 504})


@dataclass(frozen=True)
class Ending:
    cause: str  # client_closed | client_reset | server_reset | server_closed | proxy_answered | capture_ended
    words: str  # the clause for the finding
    frame: int | None = None
    time: float | None = None
    stall: float = 0.0  # seconds the server's window was zero (or full, when that says more) during the call


@dataclass(frozen=True)
class StallClause:
    """Glance not keeping up with an upload, as a finding says it: the clause ("" under STALL_SECONDS),
    the seconds, the frames cited and when the stall began (the first period of the kind the clause names)."""

    seconds: float
    words: str = ""
    frames: tuple[int, ...] = ()
    start: float | None = None


@dataclass(frozen=True)
class Stalls:
    """The server's zero-window and window-full periods that overlap a call."""

    zero: list[ZeroWindow]
    full: list[WindowFull]


def _overlapping(periods, start: float, end: float | None) -> list:
    return [z for z in periods if z.receiver == "server" and (end is None or z.start <= end)
            and (z.end is None or z.end >= start)]


def server_stalls(facts: TcpFacts | None, start: float, end: float | None) -> Stalls:
    """The server's zero-window and window-full periods that overlap [start, end]."""
    if facts is None:
        return Stalls([], [])
    return Stalls(_overlapping(facts.zero_windows, start, end), _overlapping(facts.window_full, start, end))


def _seconds(periods, until: float | None) -> float:
    return sum(((p.end if p.end is not None else until or p.start) - p.start) for p in periods)


def _full_seconds(periods: list[WindowFull], until: float | None) -> float:
    """Time full in all; a fold of many periods (tcp/window_full.py) counts their own total."""
    return sum(p.full_seconds if p.periods > 1 else _seconds([p], until) for p in periods)


def _stall_words(stalls: Stalls, until: float | None, began: float) -> StallClause:
    """Glance not keeping up with a body that began at `began`; no clause under STALL_SECONDS.
    One zero window that long is Glance having stopped reading; many short ones inside window-full periods
    are a slow reader (a slow store), said as window full. The clause starts at the first period of its kind
    (not before the body: a period left over from the connection's previous request started earlier)."""
    zero, full = stalls.zero, stalls.full
    zsecs, fsecs = _seconds(zero, until), _full_seconds(full, until)
    stopped = any(_seconds([z], until) >= STALL_SECONDS for z in zero)
    if fsecs >= STALL_SECONDS and not stopped:
        frames = (full[0].frames[0], max(full[-1].frames[1], zero[-1].frames[1] if zero else 0))
        n = sum(p.periods for p in full)
        return StallClause(fsecs, (f"Glance's receive window was full for {fsecs:.1f} s in {n} period"
                                   f"{'s' if n != 1 else ''} (window full, frames {frames[0]}–{frames[1]}): "
                                   "it read the upload slower than the client sent it — a slow store"),
                           frames, max(full[0].start, began))
    if zsecs < STALL_SECONDS:
        return StallClause(max(zsecs, fsecs))
    frames = (zero[0].frames[0], zero[-1].frames[1])
    return StallClause(zsecs, (f"Glance had stopped reading the body for {zsecs:.1f} s (zero window, frames "
                               f"{frames[0]}–{frames[1]}: the store or the worker stalled)"), frames,
                       max(zero[0].start, began))


def proxy_ending(call, calls: dict) -> Ending | None:
    """The proxy answered by itself: a 408/502/503/504 on the frontend hop whose backend got no answer."""
    tx = call.tx
    if call.hop != "frontend" or tx.status not in PROXY_STATUSES:
        return None
    back = calls.get(call.peer)
    if back is not None and back.tx.status is not None:
        return None
    body = (tx.response_body.text or b"")[:200].decode("latin-1", "replace")
    said = f" (“{' '.join(body.replace('<', ' <').split())[:120]}”)" if body else ""
    fate = "the backend connection was still waiting for Glance" if back is not None else "no backend answer was seen"
    return Ending("proxy_answered", f"the proxy {tx.server} answered {tx.status} {tx.reason} itself{said}; {fate}",
                  frame=tx.response_frames[0] if tx.response_frames else None, time=tx.response_first_time)


def ending(call, facts: TcpFacts | None, calls: dict) -> Ending:
    """How an upload whose body did not arrive whole ended."""
    proxied = proxy_ending(call, calls)
    if proxied is not None:
        return proxied
    tx = call.tx
    start = tx.request_first_time or 0.0
    end = next((e for e in (facts.ends if facts else ()) if e.time >= start), None)
    clause = _stall_words(server_stalls(facts, start, end.time if end else None), end.time if end else None, start)
    secs, stalled = clause.seconds, clause.words
    if end is None:
        words = "the capture ended while the body was still coming"
        return Ending("capture_ended", words + (f"; {stalled}" if stalled else ""), stall=secs)
    how = "reset" if end.kind == "rst" else "closed"
    if end.sender == "client":
        cause = "client_reset" if end.kind == "rst" else "client_closed"
        words = f"the client {how} the connection ({end.kind.upper()}, frame {end.frame})"
        words += (f" after {stalled}: it was killed or gave up waiting" if stalled
                  else ": it was killed, timed out or gave up before the body was complete")
    else:
        cause = "server_reset" if end.kind == "rst" else "server_closed"
        words = f"Glance's side {how} the connection ({end.kind.upper()}, frame {end.frame})"
        words += (": the glance-api worker died or was killed" if end.kind == "rst" and tx.status is None
                  else " before the body was complete")
        if stalled:
            words += f"; {stalled}"
    if tx.response_first_time is not None and end.time <= tx.response_first_time:
        words += f", before Glance answered {tx.status}"
    return Ending(cause, words, frame=end.frame, time=end.time, stall=secs)


def stalled_upload(call, facts: TcpFacts | None) -> StallClause:
    """For an upload that completed: Glance not reading it, with when that began (no words: it kept up)."""
    tx = call.tx
    start = tx.request_first_time or 0.0
    return _stall_words(server_stalls(facts, start, tx.request_last_time), tx.request_last_time, start)
