"""The TLS decoder fed hand-written records, as h11's tests are: hellos spelled out byte by
byte, and records encrypted here with `cryptography` under keys written in the test (the
key schedule of RFC 8446 7.1 / RFC 5246 5 done here, not with the decoder's own code)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.x509.oid import NameOID

from glancetrace.protocols.http import HttpDecoder, HttpTransaction
from glancetrace.protocols.tls import KeyLog, TlsDecoder, TlsSession

CLIENT, SERVER = "10.0.0.1:40000", "10.0.0.2:13292"
CR = bytes(range(32))  # client random
SR = bytes(range(100, 132))
REQUEST = b"GET /v2/images HTTP/1.1\r\nHost: glance\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"images\": []}"
HANDSHAKE, APP_DATA, CCS = 22, 23, 20


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def vec(lenbytes: int, data: bytes) -> bytes:
    return len(data).to_bytes(lenbytes, "big") + data


def record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return bytes([ctype]) + u16(version) + vec(2, body)


def message(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + vec(3, body)


def ext(etype: int, data: bytes) -> bytes:
    return u16(etype) + vec(2, data)


def client_hello(suites: list[int], tls13: bool) -> bytes:
    exts = (ext(0x0000, vec(2, b"\x00" + vec(2, b"glance.example")))  # server_name
            + ext(0x0010, vec(2, vec(1, b"http/1.1")))  # ALPN
            + ext(0x000A, vec(2, u16(0x001D))))  # supported_groups
    if tls13:
        exts += ext(0x002B, vec(1, u16(0x0304) + u16(0x0303))) + ext(0x0033, vec(2, u16(0x001D) + vec(2, b"k" * 32)))
    body = u16(0x0303) + CR + vec(1, b"s" * 32) + vec(2, b"".join(map(u16, suites))) + vec(1, b"\x00") + vec(2, exts)
    return record(HANDSHAKE, message(1, body), version=0x0301)


def server_hello(suite: int, tls13: bool) -> bytes:
    exts = ext(0x002B, u16(0x0304)) + ext(0x0033, u16(0x001D) + vec(2, b"K" * 32)) if tls13 else ext(0x0010, vec(2, vec(1, b"http/1.1")))
    body = u16(0x0303) + SR + vec(1, b"S" * 32) + u16(suite) + b"\x00" + vec(2, exts)  # new session
    return message(2, body)


class Conn:
    def __init__(self, keylog: bytes | None):
        keys = None
        if keylog is not None:
            keys = KeyLog()
            keys.load_text(keylog)
        self.dec = TlsDecoder(5, CLIENT, SERVER, keys=keys, inner=lambda: HttpDecoder(5, CLIENT, SERVER, tls=True))
        self.events: list = []
        self.frame = 0

    def send(self, direction: int, *segments: bytes) -> None:
        for seg in segments:
            self.frame += 1
            self.events += self.dec.feed(direction, seg, 50.0 + self.frame, self.frame)

    def close(self) -> tuple[TlsSession, list[HttpTransaction]]:
        self.events += self.dec.close(90.0, self.frame + 1, "fin")
        (s,) = [e for e in self.events if isinstance(e, TlsSession)]
        return s, [e for e in self.events if isinstance(e, HttpTransaction)]


# -- TLS 1.3, TLS_AES_128_GCM_SHA256 -----------------------------------------------------------

SECRETS = {name: bytes([i + 1]) * 32 for i, name in enumerate(
    ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
     "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"])}


def expand_label(secret: bytes, label: bytes, n: int) -> bytes:
    full = b"tls13 " + label
    return HKDFExpand(hashes.SHA256(), n, u16(n) + vec(1, full) + vec(1, b"")).derive(secret)


def seal13(secret: bytes, seq: int, inner_type: int, plaintext: bytes) -> bytes:
    key, iv = expand_label(secret, b"key", 16), expand_label(secret, b"iv", 12)
    inner = plaintext + bytes([inner_type])
    header = bytes([APP_DATA]) + u16(0x0303) + u16(len(inner) + 16)
    nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
    return header + AESGCM(key).encrypt(nonce, inner, header)


def keylog13(secrets=SECRETS) -> bytes:
    return b"".join(b"%s %s %s\n" % (k.encode(), CR.hex().encode(), v.hex().encode()) for k, v in secrets.items())


def tls13_connection(keylog: bytes | None, request: bytes = REQUEST) -> Conn:
    c = Conn(keylog)
    shts, chts = SECRETS["SERVER_HANDSHAKE_TRAFFIC_SECRET"], SECRETS["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]
    c.send(0, client_hello([0x1301, 0x1302], tls13=True))
    flight = message(8, vec(2, ext(0x0010, vec(2, vec(1, b"http/1.1"))))) + message(20, b"F" * 32)
    c.send(1, record(HANDSHAKE, server_hello(0x1301, tls13=True)) + record(CCS, b"\x01")
           + seal13(shts, 0, HANDSHAKE, flight))
    c.send(0, record(CCS, b"\x01") + seal13(chts, 0, HANDSHAKE, message(20, b"f" * 32)))
    app = seal13(SECRETS["CLIENT_TRAFFIC_SECRET_0"], 0, APP_DATA, request)
    c.send(0, app[:9], app[9:])  # a record split across segments
    c.send(1, seal13(SECRETS["SERVER_TRAFFIC_SECRET_0"], 0, APP_DATA, RESPONSE))
    return c


def test_tls13_hellos_and_decryption():
    s, (tx,) = tls13_connection(keylog13()).close()
    assert (s.version, s.cipher, s.group) == ("TLS 1.3", "TLS_AES_128_GCM_SHA256", "x25519")
    assert (s.sni, s.alpn_offered, s.alpn) == ("glance.example", ["http/1.1"], "http/1.1")
    assert s.client_random == CR.hex() and s.established and s.decrypted and not s.why_not
    assert (s.plaintext_up, s.plaintext_down) == (len(REQUEST), len(RESPONSE))
    assert (s.records_up, s.records_down) == (1, 1) and s.handshake_start == 51.0 and s.handshake_end == 53.0
    assert (tx.method, tx.uri, tx.status, tx.tls) == ("GET", "/v2/images", 200, True)
    assert tx.response_body.json == {"images": []} and tx.request_frames == (5, 5)


def test_tls13_wrong_key_decrypts_nothing():
    wrong = dict(SECRETS, CLIENT_TRAFFIC_SECRET_0=b"\x09" * 32, SERVER_TRAFFIC_SECRET_0=b"\x09" * 32,
                 CLIENT_HANDSHAKE_TRAFFIC_SECRET=b"\x09" * 32, SERVER_HANDSHAKE_TRAFFIC_SECRET=b"\x09" * 32)
    s, txs = tls13_connection(keylog13(wrong)).close()
    assert not s.decrypted and txs == [] and s.plaintext_up == 0
    assert s.version == "TLS 1.3" and s.sni == "glance.example"


def test_tls13_without_keys_keeps_the_handshake_facts():
    s, txs = tls13_connection(None).close()
    assert not s.decrypted and txs == [] and s.client_random == CR.hex()
    assert s.why_not.startswith("no key for client random " + CR.hex())
    assert (s.cipher, s.alpn_offered) == ("TLS_AES_128_GCM_SHA256", ["http/1.1"])


# -- TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256 (the key block from the master secret) ---------------

MASTER = bytes(range(48))


def prf(secret: bytes, label: bytes, seed: bytes, n: int) -> bytes:
    def mac(data: bytes) -> bytes:
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(data)
        return h.finalize()
    out, a = b"", label + seed
    while len(out) < n:
        a = mac(a)
        out += mac(a + label + seed)
    return out[:n]


def seal12(key: bytes, salt: bytes, seq: int, ctype: int, plaintext: bytes) -> bytes:
    explicit = seq.to_bytes(8, "big")
    aad = seq.to_bytes(8, "big") + bytes([ctype]) + u16(0x0303) + u16(len(plaintext))
    return record(ctype, explicit + AESGCM(key).encrypt(salt + explicit, plaintext, aad))


def certificate() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "glance.example"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cloud")])
    now = dt.datetime(2026, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, None))
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.DER)


def test_tls12_certificate_and_gcm_records():
    kb = prf(MASTER, b"key expansion", SR + CR, 40)
    ckey, skey, csalt, ssalt = kb[:16], kb[16:32], kb[32:36], kb[36:40]
    c = Conn(b"CLIENT_RANDOM %s %s\n" % (CR.hex().encode(), MASTER.hex().encode()))
    c.send(0, client_hello([0xC02F], tls13=False))
    der = certificate()
    ske = b"\x03" + u16(0x0017) + vec(1, b"P" * 65) + b"\x04\x03" + vec(2, b"S" * 64)  # secp256r1
    c.send(1, record(HANDSHAKE, server_hello(0xC02F, tls13=False) + message(11, vec(3, vec(3, der)))
                     + message(12, ske) + message(14, b"")))
    c.send(0, record(HANDSHAKE, message(16, vec(1, b"Q" * 65))) + record(CCS, b"\x01")
           + seal12(ckey, csalt, 0, HANDSHAKE, message(20, b"v" * 12)))
    c.send(1, record(CCS, b"\x01") + seal12(skey, ssalt, 0, HANDSHAKE, message(20, b"w" * 12)))
    c.send(0, seal12(ckey, csalt, 1, APP_DATA, REQUEST))
    c.send(1, seal12(skey, ssalt, 1, APP_DATA, RESPONSE[:30]), seal12(skey, ssalt, 2, APP_DATA, RESPONSE[30:]))
    s, (tx,) = c.close()
    assert (s.version, s.cipher, s.group, s.alpn) == ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "secp256r1", "http/1.1")
    assert s.cert_subject == "O=Cloud,CN=glance.example" and s.cert_chain == 1 and not s.resumed
    assert s.established and s.decrypted and (s.records_up, s.records_down) == (1, 2)
    assert (s.plaintext_up, s.plaintext_down) == (len(REQUEST), len(RESPONSE))
    assert (tx.method, tx.status, tx.response_body.size) == ("GET", 200, 14)
    assert tx.response_frames == (6, 7)


def test_tls12_record_damaged_in_flight_is_not_passed_on():
    kb = prf(MASTER, b"key expansion", SR + CR, 40)
    ckey, csalt = kb[:16], kb[32:36]
    c = Conn(b"CLIENT_RANDOM %s %s\n" % (CR.hex().encode(), MASTER.hex().encode()))
    c.send(0, client_hello([0xC02F], tls13=False))
    c.send(1, record(HANDSHAKE, server_hello(0xC02F, tls13=False) + message(14, b"")))
    c.send(0, record(CCS, b"\x01") + seal12(ckey, csalt, 0, HANDSHAKE, message(20, b"v" * 12)))
    good = seal12(ckey, csalt, 1, APP_DATA, REQUEST)
    bad = bytearray(seal12(ckey, csalt, 2, APP_DATA, REQUEST))
    bad[20] ^= 1
    c.send(0, good, bytes(bad))
    s, (tx, lost) = c.close()
    assert s.auth_failures == 1 and s.decrypted
    assert (tx.method, tx.uri, tx.gap) == ("GET", "/v2/images", False)
    # the damaged record reached HTTP as a gap (of the record's size), never as bytes
    assert (lost.method, lost.gap) == (None, True) and f"gap of {len(bad) - 5} bytes" in lost.notes[0]
