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

`serves` names the Glance call (the hop that reached glance-api) it was made for.  For a token
validation that is served.py's one answer (the call carrying the validated token, else the one in
flight from the validation's host), the same the token findings use; for a Swift PUT or an import
source's download, the call in flight about the same image, else the one served from the caller's
host that started last before it.  Glance hosts with several addresses (public, internal API,
storage networks) are why the token and the image come first.
Outbound HTTP from a Glance host during a Glance call (web-download's source) is Glance → import
source; Swift calls are Glance's store.
"""

from __future__ import annotations

from dataclasses import dataclass

from .calls import Call
from .served import GlanceCalls, host, served_validations

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


def _conn_key(c: Call) -> tuple:
    return (c.capture, c.tx.conn_id)


def classify(calls: list[Call], served: dict[str, str] | None = None,
             fetched_for: dict[str, str] | None = None) -> dict[str, Lane]:
    """call id → its lane.  `served`: served.served_validations of these calls (computed when not
    given): the token validations it places are Glance's, made for the call it names, and no others.
    `fetched_for`: Glance's requests to an import source (imports.py) → the import call they served:
    the task fetches after that call answered 202, so nothing else places them."""
    glance = GlanceCalls(calls)
    if served is None:
        served = served_validations(calls, glance)
    glance_clients = {host(c.tx.client) for c in calls if c.service == "glance" and c.hop != "backend"}
    pool: set[tuple] = set()  # Glance's connections to Keystone
    lanes: dict[str, Lane] = {}
    for c in calls:
        call_id = served.get(c.id)
        if call_id is None:
            continue
        if c.hop == "backend":  # haproxy's hop, its front hop not captured
            lanes[c.id] = Lane("haproxy->keystone", call_id, True)
        else:
            pool.add(_conn_key(c))
            lanes[c.id] = Lane("glance->keystone", call_id, True)
    for fetch_id, call_id in (fetched_for or {}).items():
        lanes.setdefault(fetch_id, Lane("glance->import", call_id))
    glance_only = glance.hosts - glance_clients
    for c in calls:
        if c.id not in lanes:
            lanes[c.id] = _lane(c, glance, glance_only, pool)
    for c in calls:  # haproxy's backend hop of a Glance call to Keystone serves the same call
        if c.hop == "backend" and c.peer in lanes and lanes[c.peer].serves and c.service == "keystone":
            lanes[c.id] = Lane("haproxy->keystone", lanes[c.peer].serves, lanes[c.peer].token_validation)
    return lanes


def _lane(c: Call, glance: GlanceCalls, glance_only: set[str], pool: set[tuple]) -> Lane:
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
