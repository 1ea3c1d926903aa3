"""Image bytes over time for the calls that carry them: uploads (PUT …/file, …/stage), Glance's
Swift PUTs and the download from a web-download import source.

The HTTP decoder records each body's progress as a bounded series (protocols/http/progress.py);
this turns it into the document's `throughput` object of the call: the series, the rate and the
capture gaps inside the body.  `stalls` is the list of the receiver's zero-window and window-full periods
that overlap the transfer (tcp/stalls.py, tcp/window_full.py; retransmissions are counted there, not timed,
so they are not drawn), in time order.
"""

from __future__ import annotations

from .calls import Call

MIB = 1024 * 1024
REQUEST_KINDS = ("upload", "stage", "store_put")  # the image bytes go in the request body


def direction(call: Call, lane: str) -> str | None:
    """'request' or 'response': which body of the call carries image bytes (None: neither)."""
    if call.kind in REQUEST_KINDS:
        return "request"
    if lane == "glance->import" and call.tx.method != "HEAD" and (call.tx.status or 200) < 300:
        return "response"  # not a size check (no body) nor the source's error page
    return None


def _stalls(facts, receiver: str, start: float, end: float) -> list[dict]:
    """The receiving side's zero-window and window-full periods that overlap the transfer."""
    if facts is None:
        return []
    periods = [("zero window", z) for z in facts.zero_windows] + [("window full", f) for f in facts.window_full]
    return [{"kind": kind, "start": z.start, "end": z.end, "frames": list(z.frames),
             "periods": z.periods if kind == "window full" else 1}
            for kind, z in sorted(periods, key=lambda kp: kp[1].start)
            if z.receiver == receiver and z.start <= end and (z.end is None or z.end >= start)]


def throughput(call: Call, lane: str, facts=None) -> dict | None:
    """`facts`: the connection's protocols.tcp_facts.TcpFacts, when tcp/stalls.py watched it."""
    side = direction(call, lane)
    if side is None:
        return None
    tx = call.tx
    body = tx.request_body if side == "request" else tx.response_body
    first = tx.request_first_time if side == "request" else tx.response_first_time
    points = body.progress or ([(first, 0)] if first is not None else [])  # an empty body: one point
    if not points:
        return None
    start = min(first, points[0][0]) if first is not None else points[0][0]
    end = points[-1][0]
    seconds = end - start
    return {
        "direction": side, "bytes": body.size, "start": start, "end": end, "seconds": seconds,
        "mib_per_s": body.size / MIB / seconds if seconds > 0 else None,
        "points": [[round(t, 6), b] for t, b in points],
        "gaps": [{"time": t, "offset": off, "bytes": n} for t, off, n in body.gaps],
        # the receiver of an upload is the server, of a download (web-download's source) the client
        "stalls": _stalls(facts, "server" if side == "request" else "client", start, end),
    }
