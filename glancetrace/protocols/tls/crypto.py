"""Key derivation and record decryption on top of `cryptography` (no home-made ciphers).

Each record cipher is made once per direction and key, and its `open()` is the
hot path: it takes memoryviews of the record header and fragment and returns
`(content_type, plaintext)` or None when the record does not authenticate.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from .constants import Suite

HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "md5": hashes.MD5}


def _hmac(hash_name: str, key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, HASHES[hash_name]())
    h.update(data)
    return h.finalize()


def _p_hash(hash_name: str, secret: bytes, seed: bytes, n: int) -> bytes:
    out, a = b"", seed
    while len(out) < n:
        a = _hmac(hash_name, secret, a)
        out += _hmac(hash_name, secret, a + seed)
    return out[:n]


def prf12(hash_name: str, secret: bytes, label: bytes, seed: bytes, n: int) -> bytes:
    """TLS 1.2 PRF (RFC 5246 section 5)."""
    return _p_hash(hash_name, secret, label + seed, n)


def prf10(secret: bytes, label: bytes, seed: bytes, n: int) -> bytes:
    """TLS 1.0/1.1 PRF: P_MD5 over one half of the secret xor P_SHA1 over the other."""
    half = (len(secret) + 1) // 2
    a = _p_hash("md5", secret[:half], label + seed, n)
    b = _p_hash("sha1", secret[len(secret) - half:], label + seed, n)
    return bytes(x ^ y for x, y in zip(a, b))


def expand_label(hash_name: str, secret: bytes, label: bytes, context: bytes, n: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label (RFC 8446 section 7.1)."""
    full = b"tls13 " + label
    info = n.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return HKDFExpand(HASHES[hash_name](), n, info).derive(secret)


def _aead(suite: Suite, key: bytes):
    return AESGCM(key) if suite.cipher == "AESGCM" else ChaCha20Poly1305(key)


class Tls13Cipher:
    """One direction's traffic key; `update()` follows a KeyUpdate."""

    __slots__ = ("suite", "secret", "aead", "iv")

    def __init__(self, suite: Suite, secret: bytes):
        self.suite = suite
        self._rekey(secret)

    def _rekey(self, secret: bytes) -> None:
        h = self.suite.hash
        self.secret = secret
        self.aead = _aead(self.suite, expand_label(h, secret, b"key", b"", self.suite.key_len))
        self.iv = int.from_bytes(expand_label(h, secret, b"iv", b"", 12), "big")

    def update(self) -> None:
        n = HASHES[self.suite.hash].digest_size
        self._rekey(expand_label(self.suite.hash, self.secret, b"traffic upd", b"", n))

    def open(self, seq: int, header, fragment) -> tuple[int, memoryview] | None:
        try:
            pt = self.aead.decrypt((self.iv ^ seq).to_bytes(12, "big"), fragment, header)
        except InvalidTag:
            return None
        # TLSInnerPlaintext: content, content type, zero padding
        if pt and pt[-1]:
            return pt[-1], memoryview(pt)[:-1]
        stripped = pt.rstrip(b"\0")
        if not stripped:
            return None
        return stripped[-1], memoryview(stripped)[:-1]


class Tls12AeadCipher:
    """AES-GCM (explicit 8-byte nonce, RFC 5288) or ChaCha20-Poly1305 (RFC 7905)."""

    __slots__ = ("aead", "salt", "iv", "gcm")

    def __init__(self, suite: Suite, key: bytes, iv: bytes):
        self.aead = _aead(suite, key)
        self.gcm = suite.cipher == "AESGCM"
        self.salt = iv[:4]
        self.iv = int.from_bytes(iv, "big") if not self.gcm else 0

    def open(self, seq: int, header, fragment) -> tuple[int, bytes] | None:
        ctype = header[0]
        if self.gcm:
            n = len(fragment) - 24
            if n < 0:
                return None
            nonce = self.salt + bytes(fragment[:8])
            fragment = fragment[8:]
        else:
            n = len(fragment) - 16
            if n < 0:
                return None
            nonce = (self.iv ^ seq).to_bytes(12, "big")
        aad = seq.to_bytes(8, "big") + bytes(header[:3]) + n.to_bytes(2, "big")
        try:
            return ctype, self.aead.decrypt(nonce, fragment, aad)
        except InvalidTag:
            return None

    def explicit_seq(self, fragment) -> int | None:
        """The explicit GCM nonce: most stacks (OpenSSL among them) put the sequence number there."""
        return int.from_bytes(fragment[:8], "big") if self.gcm and len(fragment) >= 8 else None


class Tls12CbcCipher:
    """AES-CBC with HMAC, MAC-then-encrypt or encrypt-then-MAC (RFC 7366); TLS 1.0 chains IVs."""

    __slots__ = ("key", "mac_key", "mac", "mac_len", "etm", "chained_iv")

    def __init__(self, suite: Suite, key: bytes, mac_key: bytes, iv: bytes, etm: bool, tls10: bool):
        self.key, self.mac_key, self.mac, self.etm = key, mac_key, suite.mac, etm
        self.mac_len = HASHES[suite.mac].digest_size
        self.chained_iv = iv if tls10 else None

    def open(self, seq: int, header, fragment) -> tuple[int, bytes] | None:
        ctype, ml = header[0], self.mac_len
        frag = bytes(fragment)
        if self.etm:
            if len(frag) < ml + 16:
                return None
            body, tag = frag[:-ml], frag[-ml:]
            hdr = seq.to_bytes(8, "big") + bytes(header[:3]) + len(body).to_bytes(2, "big")
            if not constant_time.bytes_eq(_hmac(self.mac, self.mac_key, hdr + body), tag):
                return None
            frag = body
        if self.chained_iv is not None:
            iv, ct = self.chained_iv, frag
        else:
            iv, ct = frag[:16], frag[16:]
        if not ct or len(ct) % 16:
            return None
        if self.chained_iv is not None:
            self.chained_iv = ct[-16:]
        dec = Cipher(algorithms.AES(self.key), modes.CBC(iv)).decryptor()
        pt = dec.update(ct) + dec.finalize()
        pad = pt[-1]
        if pad + 1 > len(pt) or pt[-pad - 1:] != bytes([pad]) * (pad + 1):
            return None
        pt = pt[:-pad - 1]
        if self.etm:
            return ctype, pt
        if len(pt) < ml:
            return None
        content, tag = pt[:-ml], pt[-ml:]
        hdr = seq.to_bytes(8, "big") + bytes(header[:3]) + len(content).to_bytes(2, "big")
        if not constant_time.bytes_eq(_hmac(self.mac, self.mac_key, hdr + content), tag):
            return None
        return ctype, content

    def explicit_seq(self, fragment) -> int | None:
        return None


def tls12_ciphers(suite: Suite, version: int, master: bytes, client_random: bytes, server_random: bytes,
                  etm: bool = False):
    """(client_write, server_write) record ciphers from a TLS 1.0-1.2 master secret."""
    seed = server_random + client_random
    if suite.cipher in ("AESGCM", "CHACHA20"):
        ivl = 4 if suite.cipher == "AESGCM" else 12
        kl = suite.key_len
        kb = prf12(suite.hash, master, b"key expansion", seed, 2 * kl + 2 * ivl)
        ck, sk = kb[:kl], kb[kl:2 * kl]
        civ, siv = kb[2 * kl:2 * kl + ivl], kb[2 * kl + ivl:]
        return Tls12AeadCipher(suite, ck, civ), Tls12AeadCipher(suite, sk, siv)
    ml, kl = HASHES[suite.mac].digest_size, suite.key_len
    n = 2 * ml + 2 * kl + 32
    kb = (prf12(suite.hash, master, b"key expansion", seed, n) if version >= 0x0303
          else prf10(master, b"key expansion", seed, n))
    cm, sm = kb[:ml], kb[ml:2 * ml]
    ck, sk = kb[2 * ml:2 * ml + kl], kb[2 * ml + kl:2 * ml + 2 * kl]
    civ, siv = kb[2 * ml + 2 * kl:2 * ml + 2 * kl + 16], kb[2 * ml + 2 * kl + 16:]
    tls10 = version <= 0x0301
    return (Tls12CbcCipher(suite, ck, cm, civ, etm, tls10), Tls12CbcCipher(suite, sk, sm, siv, etm, tls10))
