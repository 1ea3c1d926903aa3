"""A log's clock against the capture's: estimated from the requests both saw.

Logs are written in local time or UTC with no zone; the offset (seconds to add to a log's
times) is the typical difference between a request's time in the capture and in the log:

- haproxy: the client's ip:port names the connection; its first logged request arrived when the
  client's first TLS (or HTTP) bytes did (a port is reused by later connections: each run of lines of
  one ip:port, a minute or more apart from the next, votes);
- oslo.log: the request id the service put in its response;
- uWSGI, Apache: a method and path the capture holds at most a few times (image ids make most unique).

Each piece of evidence votes for a one-second bin; the three adjacent bins with the most votes win
(and must outweigh any other group twice, or hold half the votes) and the median of their votes is the offset.  Memory: a counter of bins and a bounded sample per
bin, whatever the log's size.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..protocols.http.events import HttpTransaction
from ..protocols.tls.events import TlsSession

MAX_OFFSET = 15 * 3600.0  # time zones reach ±14 h
DISTINCT_ROUTE = 3  # a method+path seen at most this often in the capture is evidence
SAMPLES_PER_BIN = 512
MIN_VOTES = 3
AGREEING_SHARE = 0.5  # of all votes, in the winning bins …
DOMINANCE = 2.0  # … or this many times the votes of the best group elsewhere
RUN_GAP = 60.0  # seconds: an ip:port silent this long in the log is another connection (ports are reused)
MAX_RUNS = 16  # per ip:port and capture connection
REQUEST_ID_HEADERS = ("x-openstack-request-id", "openstack-request-id", "x-compute-request-id")


def request_id(tx: HttpTransaction) -> str | None:
    for name in REQUEST_ID_HEADERS:
        v = tx.header(name, response=True)
        if v:
            return v.strip()
    return None


@dataclass
class Anchors:
    """What in the capture a log line can be recognised by, with its time."""

    by_client: dict[str, list[float]] = field(default_factory=dict)  # ip:port → first request bytes of each connection
    by_request_id: dict[str, float] = field(default_factory=dict)
    by_route: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # distinctive routes only

    @classmethod
    def of(cls, events: list) -> "Anchors":
        a = cls()
        clients: dict[str, set[float]] = defaultdict(set)
        routes: dict[tuple[str, str], list[float]] = defaultdict(list)
        for ev in events:
            if isinstance(ev, HttpTransaction):
                t = ev.request_first_time
                if t is None:
                    continue
                rid = request_id(ev)
                if rid:
                    a.by_request_id.setdefault(rid, t)
                if ev.method and ev.uri:
                    routes[(ev.method, ev.uri)].append(t)
                if not ev.tls:
                    clients[ev.client].add(t)
            elif isinstance(ev, TlsSession) and ev.first_up is not None:
                clients[ev.client].add(ev.first_up)
        # a plain connection's first request stands for the connection
        a.by_client = {c: sorted(ts) for c, ts in clients.items()}
        a.by_route = {k: sorted(v) for k, v in routes.items() if len(v) <= DISTINCT_ROUTE}
        return a


class OffsetVotes:
    """Feed log records one by one; `estimate()` gives (offset, matches)."""

    def __init__(self, anchors: Anchors) -> None:
        self.anchors = anchors
        self.runs: dict[tuple[str, float], list[list[float]]] = {}  # (client, capture time) → [first, last] log times
        self.bins: Counter = Counter()
        self.samples: dict[int, list[float]] = defaultdict(list)

    def add(self, rec) -> None:
        t = rec.time
        if t is None:
            return
        a = self.anchors
        if rec.source == "haproxy" and rec.client in a.by_client:
            for ct in _near(a.by_client[rec.client], t):
                self._run(self.runs.setdefault((rec.client, ct), []), t)
            return
        rid = rec.request_id
        if rid is not None and rid in a.by_request_id:
            self._vote(a.by_request_id[rid] - t)
        elif rec.source in ("uwsgi", "apache", "haproxy") and rec.method:
            for ct in _near(a.by_route.get((rec.method, rec.path), ()), t):
                self._vote(ct - t)

    @staticmethod
    def _run(runs: list[list[float]], t: float) -> None:
        last = runs[-1] if runs else None
        if last is not None and last[0] - RUN_GAP <= t <= last[1] + RUN_GAP:
            last[0], last[1] = min(last[0], t), max(last[1], t)
        elif len(runs) < MAX_RUNS:
            runs.append([t, t])

    def _vote(self, diff: float) -> None:
        if abs(diff) > MAX_OFFSET:
            return
        b = int(diff // 1)
        self.bins[b] += 1
        s = self.samples[b]
        if len(s) < SAMPLES_PER_BIN:
            s.append(diff)

    def estimate(self) -> tuple[float, int]:
        for (_, ct), runs in self.runs.items():
            for first, _ in runs:
                self._vote(ct - first)
        self.runs.clear()
        if not self.bins:
            return 0.0, 0
        group = lambda b: self.bins[b - 1] + self.bins[b] + self.bins[b + 1]  # noqa: E731
        # ties: the offset nearest zero (clocks are mostly close)
        best = max(self.bins, key=lambda b: (group(b), self.bins[b], -abs(b)))
        votes = [d for b in (best - 1, best, best + 1) for d in self.samples.get(b, ())]
        n = group(best)
        other = max((group(b) for b in self.bins if abs(b - best) > 2), default=0)
        if n < MIN_VOTES or (n < AGREEING_SHARE * sum(self.bins.values()) and n < DOMINANCE * other):
            return 0.0, 0  # a few stray coincidences, or two offsets as likely: no estimate
        return statistics.median(votes), n


def _near(times, t: float) -> list[float]:
    """Capture times within MAX_OFFSET of a log time."""
    if not times:
        return []
    lo = bisect.bisect_left(times, t - MAX_OFFSET)
    hi = bisect.bisect_right(times, t + MAX_OFFSET)
    return times[lo:hi]
