"""Who talked to whom: each API call's lane (client → haproxy, haproxy → Glance, Glance → Keystone, …).

The service a call went to is known (calls.py); what this adds is who made it.  The one that matters
most is Glance's own traffic to Keystone: keystonemiddleware in glance-api validates the caller's
token (GET /v3/auth/tokens with X-Subject-Token) inside the Glance call, often for most of its
latency, and fetches its own service token on the same pooled connection.  A Keystone call is
Glance's when
  - it comes from a host that serves Glance and that no call to Glance comes from, or
  - it is a token validation made while a Glance call carrying that token, or served from the
    validation's host, was in flight, or
  - it went over a connection such a validation used (keystonemiddleware's connection pool).
On a single host (devstack, the loopback rig) only the last two can tell Glance from a client.

`serves` names the Glance call (the hop that reached glance-api) it was made for: the one in flight
whose X-Auth-Token is the validated token, else one about the same image (a Swift PUT), else the one
served from the caller's host that started last before it.  Glance hosts with several addresses
(public, internal API, storage networks) are why the token and the image come first.
Outbound HTTP from a Glance host during a Glance call (web-download's source) is Glance → import
source; Swift calls are Glance's store.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from .calls import Call

SCAN = 512

# lane key → (client role, server role); the report's labels and order come from these keys
ROLES = {
    "client->haproxy": ("client", "haproxy"),
    "haproxy->glance": ("haproxy", "glance"),
    "client->glance": ("client", "glance"),
    "client->keystone": ("client", "keystone"),
    "haproxy->keystone": ("haproxy", "keystone"),
    "glance->keystone": ("glance", "keystone"),
    "glance->swift": ("glance", "swift"),
    "haproxy->swift": ("haproxy", "swift"),
    "glance->import": ("glance", "import source"),
    "other": ("client", "http"),
}


@dataclass(frozen=True)
class Lane:
    lane: str
    serves: str | None = None  # the Glance call this one was made for (Glance → Keystone / import source)
    token_validation: bool = False  # Glance validating its caller's token

    @property
    def roles(self) -> dict:
        client, server = ROLES[self.lane]
        return {"client": client, "server": server}


def host(endpoint: str | None) -> str:
    return (endpoint or "").rsplit(":", 1)[0].strip("[]")


def _conn_key(c: Call) -> tuple:
    return (c.capture, c.tx.conn_id)


def is_validation(c: Call) -> bool:
    t = c.tx
    return (c.service == "keystone" and (t.method or "").upper() == "GET"
            and (t.uri or "").split("?", 1)[0].rstrip("/").endswith("/v3/auth/tokens")
            and t.header("x-subject-token") is not None)


class _GlanceCalls:
    """The calls that reached glance-api (direct or haproxy's backend hop), to find the one in flight."""

    def __init__(self, calls: list[Call]):
        self.calls = sorted((c for c in calls if c.service == "glance" and c.hop != "frontend"
                             and c.start is not None), key=lambda c: c.start)
        self.starts = [c.start for c in self.calls]
        self.hosts = {host(c.tx.server) for c in self.calls}

    def in_flight(self, at: float, from_host: str, token: str | None = None, image_id: str | None = None) -> Call | None:
        """The Glance call open at `at` that this one was most likely made for: one carrying the
        validated token, else one about the same image, else one served from `from_host` (the
        latest started of those), looking back over the last SCAN calls: a validation comes at a
        call's start.  None when no open call qualifies."""
        best, best_score = None, 0
        i = bisect_right(self.starts, at)
        for g in reversed(self.calls[max(0, i - SCAN):i]):
            if g.end is not None and at > g.end:
                continue
            score = (4 * (token is not None and g.tx.header("x-auth-token") == token)
                     + 2 * (image_id is not None and g.image_id == image_id)
                     + (host(g.tx.server) == from_host))
            if score > best_score:
                best, best_score = g, score
        return best


def classify(calls: list[Call], served: dict[str, str] | None = None) -> dict[str, Lane]:
    """call id → its lane.  `served`: the analysis's own answer to which Glance call a token validation
    was made for (tokens.served_validations, by the caller's token); the search by time and host here
    only covers the validations that answer leaves open."""
    served = served or {}
    glance = _GlanceCalls(calls)
    glance_clients = {host(c.tx.client) for c in calls if c.service == "glance" and c.hop != "backend"}
    pool: set[tuple] = set()  # Glance's connections to Keystone
    lanes: dict[str, Lane] = {}
    for c in sorted(calls, key=lambda c: (c.start is None, c.start or 0.0)):
        if c.service == "keystone" and c.hop != "backend" and c.start is not None and is_validation(c):
            call_id = served.get(c.id)
            if call_id is None:
                g = glance.in_flight(c.start, host(c.tx.client), c.tx.header("x-subject-token"))
                call_id = g.id if g is not None else None
            if call_id is not None:
                pool.add(_conn_key(c))
                lanes[c.id] = Lane("glance->keystone", call_id, True)
    glance_only = glance.hosts - glance_clients
    for c in calls:
        if c.id not in lanes:
            lanes[c.id] = _lane(c, glance, glance_only, pool)
    for c in calls:  # haproxy's backend hop of a Glance call to Keystone serves the same call
        if c.hop == "backend" and c.peer in lanes and lanes[c.peer].serves and c.service == "keystone":
            lanes[c.id] = Lane("haproxy->keystone", lanes[c.peer].serves, lanes[c.peer].token_validation)
    return lanes


def _lane(c: Call, glance: _GlanceCalls, glance_only: set[str], pool: set[tuple]) -> Lane:
    src = host(c.tx.client)
    served = glance.in_flight(c.start, src, image_id=c.image_id) if c.start is not None else None
    if c.service == "keystone" and c.hop != "backend":
        if _conn_key(c) in pool or src in glance_only:
            return Lane("glance->keystone", served.id if served else None)
    if c.hop == "frontend":
        return Lane("client->haproxy")
    if c.hop == "backend":
        return Lane({"glance": "haproxy->glance", "keystone": "haproxy->keystone",
                     "swift": "haproxy->swift"}.get(c.service, "other"))
    if c.service == "swift":
        return Lane("glance->swift", served.id if served else None)
    if c.service in ("glance", "keystone"):
        return Lane(f"client->{c.service}")
    if served is not None or src in glance_only:
        return Lane("glance->import", served.id if served else None)
    return Lane("other")
