"""Several captures of one incident: the same exchange seen from two hosts is one event.

Captures are first put on one clock (capture/clock.py); an HTTP transaction or
SQL statement then appears in each capture that saw it, with the same
endpoints and text and nearly the same time.  The first capture's copy is
kept.
"""

from __future__ import annotations

from ..protocols.http.events import HttpTransaction
from ..protocols.mysql.events import SqlStatement

TOLERANCE = 0.5  # seconds: clock estimate error plus one-way delay


def _key(ev):
    if isinstance(ev, HttpTransaction):
        return ("http", ev.client, ev.server, ev.method, ev.uri, ev.status), ev.request_first_time or ev.response_first_time
    if isinstance(ev, SqlStatement):
        return ("sql", ev.client, ev.server, ev.command, ev.sql), ev.request_time
    return None, None


def dedupe_across_captures(events: list) -> list:
    """Drop copies of one exchange seen by several captures (a no-op for a single capture)."""
    if not any(e.capture for e in events):
        return events
    groups: dict[tuple, list] = {}
    for ev in events:
        key, t = _key(ev)
        if key is not None and t is not None:
            groups.setdefault(key, []).append((t, ev.capture, id(ev)))
    drop = set()
    for items in groups.values():
        if len(items) < 2:
            continue
        items.sort(key=lambda x: (x[0], x[1]))
        kept: list[tuple[float, int, set[int]]] = []  # a kept copy: time, capture, captures holding it
        for t, cap, ident in items:
            twin = next((k for k in kept if k[1] != cap and abs(k[0] - t) <= TOLERANCE and cap not in k[2]), None)
            if twin is not None:
                drop.add(ident)  # the earlier capture's copy stands
                twin[2].add(cap)
            else:
                kept.append((t, cap, {cap}))
    return [e for e in events if id(e) not in drop]
