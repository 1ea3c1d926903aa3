"""Parsing of the handshake messages that carry the facts we report.

Parsers raise ValueError on truncated or malformed input; the decoder turns
that into an anomaly.  Only what the report or the key schedule needs is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import constants as C


class Reader:
    __slots__ = ("b", "i", "end")

    def __init__(self, b: bytes, start: int = 0, end: int | None = None):
        self.b, self.i, self.end = b, start, len(b) if end is None else end

    def take(self, n: int) -> bytes:
        j = self.i + n
        if j > self.end:
            raise ValueError("truncated handshake message")
        out, self.i = self.b[self.i:j], j
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec(self, lenbytes: int) -> bytes:
        return self.take(int.from_bytes(self.take(lenbytes), "big"))

    def left(self) -> int:
        return self.end - self.i


def _extensions(r: Reader) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    if r.left() < 2:
        return out
    ext = Reader(r.vec(2))
    while ext.left() >= 4:
        t = ext.u16()
        out[t] = ext.vec(2)
    return out


def _alpn_list(data: bytes) -> list[str]:
    r = Reader(data)
    lst = Reader(r.vec(2))
    out = []
    while lst.left():
        out.append(lst.vec(1).decode("ascii", "replace"))
    return out


@dataclass
class ClientHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    suites: list[int]
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    ticket: bool = False  # a non-empty TLS 1.2 session ticket is offered
    psk: bool = False  # TLS 1.3 pre_shared_key offered
    early_data: bool = False


def parse_client_hello(body: bytes) -> ClientHello:
    r = Reader(body)
    ch = ClientHello(r.u16(), r.take(32), r.vec(1), [])
    s = Reader(r.vec(2))
    while s.left() >= 2:
        ch.suites.append(s.u16())
    r.vec(1)  # compression methods
    ext = _extensions(r)
    if C.EXT_SNI in ext:
        sr = Reader(ext[C.EXT_SNI])
        names = Reader(sr.vec(2))
        while names.left() >= 3:
            kind, name = names.u8(), names.vec(2)
            if kind == 0:
                ch.sni = name.decode("ascii", "replace")
                break
    if C.EXT_ALPN in ext:
        ch.alpn = _alpn_list(ext[C.EXT_ALPN])
    if C.EXT_VERSIONS in ext:
        vr = Reader(ext[C.EXT_VERSIONS])
        vs = Reader(vr.vec(1))
        while vs.left() >= 2:
            ch.versions.append(vs.u16())
    ch.ticket = bool(ext.get(C.EXT_TICKET))
    ch.psk = C.EXT_PSK in ext
    ch.early_data = C.EXT_EARLY_DATA in ext
    return ch


@dataclass
class ServerHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    suite: int
    version: int  # negotiated: supported_versions when present
    alpn: str | None = None
    group: int | None = None
    psk: bool = False  # TLS 1.3 resumption: the server picked a PSK
    etm: bool = False
    hrr: bool = False


def parse_server_hello(body: bytes) -> ServerHello:
    r = Reader(body)
    legacy, rnd, sid, suite = r.u16(), r.take(32), r.vec(1), r.u16()
    r.u8()  # compression
    ext = _extensions(r)
    sh = ServerHello(legacy, rnd, sid, suite, legacy, hrr=rnd == C.HRR_RANDOM)
    if C.EXT_VERSIONS in ext and len(ext[C.EXT_VERSIONS]) == 2:
        sh.version = int.from_bytes(ext[C.EXT_VERSIONS], "big")
    if C.EXT_ALPN in ext:
        lst = _alpn_list(ext[C.EXT_ALPN])
        sh.alpn = lst[0] if lst else None
    ks = ext.get(C.EXT_KEY_SHARE)
    if ks and len(ks) >= 2:
        sh.group = int.from_bytes(ks[:2], "big")
    sh.psk = C.EXT_PSK in ext
    sh.etm = C.EXT_ETM in ext
    return sh


def parse_encrypted_extensions(body: bytes) -> str | None:
    """TLS 1.3 EncryptedExtensions → the selected ALPN protocol, if any."""
    ext = _extensions(Reader(body))
    if C.EXT_ALPN in ext:
        lst = _alpn_list(ext[C.EXT_ALPN])
        return lst[0] if lst else None
    return None


def parse_certificates(body: bytes, tls13: bool) -> list[bytes]:
    """DER certificates of a Certificate message, leaf first."""
    r = Reader(body)
    if tls13:
        r.vec(1)  # certificate_request_context
    lst = Reader(r.take(r.u24()))
    certs = []
    while lst.left() >= 3:
        certs.append(lst.take(lst.u24()))
        if tls13:
            lst.vec(2)  # per-certificate extensions
    return certs


def cert_names(der: bytes) -> tuple[str | None, str | None]:
    """(subject, issuer) of a DER certificate as RFC 4514 strings (last RDN first, as Zeek writes them)."""
    from cryptography import x509

    # a damaged certificate is just not described; cryptography parses names lazily and a
    # damaged one can fail late with ValueError, TypeError or KeyError (seen in fuzzing)
    try:
        cert = x509.load_der_x509_certificate(der)
        return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    except Exception:
        return None, None


def server_key_exchange_group(body: bytes) -> int | None:
    """Named curve of an ECDHE ServerKeyExchange (curve_type 3 = named_curve)."""
    if len(body) >= 3 and body[0] == 3:
        return int.from_bytes(body[1:3], "big")
    return None
