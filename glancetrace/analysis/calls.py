"""API calls: which service each HTTP transaction went to, its meaning, and proxy hops.

Behind haproxy the same request crosses the wire twice: client → haproxy
(TLS, 13292) and haproxy → glance-api (plain, 9292).  Both are kept; the
backend hop is linked to its frontend so the timeline shows one call and the
SQL correlation uses the hop that reached the service.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..openstack import keystone
from ..openstack.services import ServiceMap, classify_http, service_of
from ..protocols.http.events import HttpTransaction

SERVICE_OF_TYPE = {"identity": "keystone", "image": "glance", "object-store": "swift"}


@dataclass
class Call:
    id: str
    tx: HttpTransaction
    service: str  # keystone | glance | swift | other
    kind: str
    summary: str
    image_id: str | None = None
    image: dict[str, Any] = field(default_factory=dict)  # image fields read from the bodies
    meaning: Any = None  # KeystoneCall / GlanceCall
    hop: str = "direct"  # direct | frontend | backend
    peer: str | None = None  # the other hop of the same request
    sql: list[str] = field(default_factory=list)

    @property
    def capture(self) -> int:
        return self.tx.capture

    @property
    def start(self) -> float:
        return self.tx.request_first_time if self.tx.request_first_time is not None else self.tx.response_first_time

    @property
    def end(self) -> float | None:
        t = self.tx
        return t.response_last_time or t.response_first_time or t.request_last_time

    @property
    def server_port(self) -> int:
        return int(self.tx.server.rsplit(":", 1)[1])


def build_calls(transactions: list[HttpTransaction]) -> list[Call]:
    """Classify transactions into calls, in request order."""
    txs = sorted(transactions, key=lambda tx: (_t0(tx), tx.capture, tx.conn_id))
    # the catalogs Keystone hands out say which port is which service
    services = ServiceMap()
    services.learn(keystone.classify(tx) for tx in txs
                   if service_of(tx) == "identity" and (tx.method or "").upper() == "POST")
    calls: list[Call] = []
    for i, tx in enumerate(txs):
        svc_type = service_of(tx, services)
        svc = SERVICE_OF_TYPE.get(svc_type, "other") if svc_type else "other"
        call = Call(id=f"c{i + 1}", tx=tx, service=svc, kind="http", summary="")
        m = classify_http(tx, services) if svc in ("keystone", "glance", "swift") else None
        if m is not None:
            call.meaning, call.kind, call.summary = m, m.action, m.summary
            call.image_id = getattr(m, "image_id", None)
            info = getattr(m, "image", None)
            call.image = asdict(info) if info is not None else {}
        else:
            call.summary = f"{tx.method or '?'} {tx.uri or '?'} → {tx.status if tx.status is not None else 'no response'}"
        calls.append(call)
    _link_hops(calls)
    return calls


def _t0(tx: HttpTransaction) -> float:
    t = tx.request_first_time if tx.request_first_time is not None else tx.response_first_time
    return t if t is not None else 0.0


def _link_hops(calls: list[Call]) -> None:
    """Pair a TLS/proxy frontend request with the backend request it caused."""
    open_front: list[Call] = []
    for c in calls:
        if c.tx.method is None:
            continue
        for f in open_front:
            if (f.peer is None and f.service == c.service and f.tx.method == c.tx.method
                    and f.tx.uri == c.tx.uri and f.tx.server != c.tx.server and f.start <= c.start
                    and (f.end is None or c.start <= f.end)):
                f.hop, c.hop = "frontend", "backend"
                f.peer, c.peer = c.id, f.id
                if c.image_id is None:
                    c.image_id = f.image_id
                elif f.image_id is None:
                    f.image_id = c.image_id
                break
        else:
            open_front.append(c)
        # keep the list short: frontends that ended long before cannot pair any more
        if len(open_front) > 64:
            open_front = [f for f in open_front if f.end is None or f.end >= c.start]
