"""Which OpenStack service an HTTP transaction went to, and what it meant there."""

from __future__ import annotations

from typing import Iterable

from ..protocols.http.events import HttpTransaction

from . import glance_api, keystone, swift
from .rest import split_target

# Default ports (TripleO: 13000/13292 are the TLS public endpoints behind haproxy).
DEFAULT_PORTS: dict[int, str] = {5000: "identity", 13000: "identity", 35357: "identity", 9292: "image",
                                 13292: "image"}


class ServiceMap:
    """address:port → service type, from defaults and then corrected by the Keystone catalogs seen."""

    def __init__(self, ports: dict[int, str] | None = None) -> None:
        self.by_port: dict[int, str] = dict(DEFAULT_PORTS if ports is None else ports)
        self.by_addr: dict[tuple[str, int], str] = {}

    def learn(self, calls: Iterable[object]) -> None:
        for stype, rows in keystone.endpoints_by_service(calls).items():
            for _iface, _url, host, port in rows:
                self.by_addr[(host, port)] = stype
                self.by_port[port] = stype

    def service(self, server: str) -> str | None:
        host, _, port_s = server.rpartition(":")
        try:
            port = int(port_s)
        except ValueError:
            return None
        return self.by_addr.get((host.strip("[]"), port)) or self.by_port.get(port)


def service_of(tx: HttpTransaction, services: ServiceMap | None = None) -> str | None:
    """'identity', 'image', another catalog type, or None when unknown."""
    path, _ = split_target(tx.uri)
    if path and swift.is_swift_path(path):
        return "object-store"
    if path and keystone.is_keystone_path(path):
        return "identity"
    if path and glance_api.is_glance_path(path):
        return "image"
    by_port = (services or ServiceMap()).service(tx.server)
    if by_port:
        return by_port
    # Version documents tell the services apart when the port does not.
    j = tx.response_body.json
    if isinstance(j, dict):
        vs = j.get("versions")
        if isinstance(vs, dict):  # Keystone: {"versions": {"values": [...]}}
            return "identity"
        if isinstance(vs, list) and any(isinstance(v, dict) and str(v.get("id", "")).startswith("v2.")
                                        for v in vs):
            return "image"
        if isinstance(j.get("version"), dict):
            return "identity"
    return None


def classify_http(tx: HttpTransaction, services: ServiceMap | None = None):
    """A KeystoneCall, a GlanceCall, a SwiftCall, or None for other services / unknown traffic."""
    svc = service_of(tx, services)
    if svc == "identity":
        return keystone.classify(tx)
    if svc == "image":
        return glance_api.classify(tx)
    if svc == "object-store":
        return swift.classify(tx)
    return None
