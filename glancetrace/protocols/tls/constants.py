"""TLS numbers: record and handshake types, versions, alerts, cipher suites (IANA registry names)."""

from __future__ import annotations

from dataclasses import dataclass

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
MAX_RECORD = (1 << 14) + 2048  # largest legal TLSCiphertext fragment

# handshake message types
HELLO_REQUEST, CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, END_OF_EARLY_DATA = 0, 1, 2, 4, 5
ENCRYPTED_EXTENSIONS, CERTIFICATE, SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST = 8, 11, 12, 13
SERVER_HELLO_DONE, CERTIFICATE_VERIFY, CLIENT_KEY_EXCHANGE, FINISHED, KEY_UPDATE = 14, 15, 16, 20, 24

# extensions
EXT_SNI, EXT_GROUPS, EXT_ALPN, EXT_ETM, EXT_EMS, EXT_TICKET = 0, 10, 16, 22, 23, 35
EXT_PSK, EXT_EARLY_DATA, EXT_VERSIONS, EXT_KEY_SHARE = 41, 42, 43, 51

# ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3)
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}

ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
    45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
    49: "access_denied", 50: "decode_error", 51: "decrypt_error", 60: "export_restriction",
    70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}

GROUPS = {23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519", 30: "x448",
          256: "ffdhe2048", 257: "ffdhe3072", 258: "ffdhe4096", 0x11EC: "X25519MLKEM768"}


@dataclass(frozen=True)
class Suite:
    name: str
    cipher: str  # "AESGCM", "CHACHA20", "AESCBC" or "" (cannot decrypt)
    key_len: int = 0
    hash: str = "sha256"  # PRF / HKDF hash
    mac: str = ""  # CBC suites: HMAC hash


def _s(name, cipher="", key_len=0, hash="sha256", mac=""):
    return Suite(name, cipher, key_len, hash, mac)


SUITES: dict[int, Suite] = {
    0x1301: _s("TLS_AES_128_GCM_SHA256", "AESGCM", 16),
    0x1302: _s("TLS_AES_256_GCM_SHA384", "AESGCM", 32, "sha384"),
    0x1303: _s("TLS_CHACHA20_POLY1305_SHA256", "CHACHA20", 32),
    0x1304: _s("TLS_AES_128_CCM_SHA256"),
    0x1305: _s("TLS_AES_128_CCM_8_SHA256"),
    0xC02B: _s("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "AESGCM", 16),
    0xC02C: _s("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "AESGCM", 32, "sha384"),
    0xC02F: _s("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "AESGCM", 16),
    0xC030: _s("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "AESGCM", 32, "sha384"),
    0xCCA8: _s("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20", 32),
    0xCCA9: _s("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20", 32),
    0xCCAA: _s("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20", 32),
    0x009E: _s("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "AESGCM", 16),
    0x009F: _s("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "AESGCM", 32, "sha384"),
    0x009C: _s("TLS_RSA_WITH_AES_128_GCM_SHA256", "AESGCM", 16),
    0x009D: _s("TLS_RSA_WITH_AES_256_GCM_SHA384", "AESGCM", 32, "sha384"),
    0xC009: _s("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "AESCBC", 16, mac="sha1"),
    0xC00A: _s("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "AESCBC", 32, mac="sha1"),
    0xC013: _s("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "AESCBC", 16, mac="sha1"),
    0xC014: _s("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "AESCBC", 32, mac="sha1"),
    0xC023: _s("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "AESCBC", 16, mac="sha256"),
    0xC024: _s("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "AESCBC", 32, "sha384", "sha384"),
    0xC027: _s("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "AESCBC", 16, mac="sha256"),
    0xC028: _s("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "AESCBC", 32, "sha384", "sha384"),
    0x002F: _s("TLS_RSA_WITH_AES_128_CBC_SHA", "AESCBC", 16, mac="sha1"),
    0x0035: _s("TLS_RSA_WITH_AES_256_CBC_SHA", "AESCBC", 32, mac="sha1"),
    0x003C: _s("TLS_RSA_WITH_AES_128_CBC_SHA256", "AESCBC", 16, mac="sha256"),
    0x003D: _s("TLS_RSA_WITH_AES_256_CBC_SHA256", "AESCBC", 32, mac="sha256"),
    0x0033: _s("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "AESCBC", 16, mac="sha1"),
    0x0039: _s("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "AESCBC", 32, mac="sha1"),
    0x0067: _s("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "AESCBC", 16, mac="sha256"),
    0x006B: _s("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "AESCBC", 32, mac="sha256"),
    0x000A: _s("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    0x0005: _s("TLS_RSA_WITH_RC4_128_SHA"),
    0x00FF: _s("TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
}


def suite_name(code: int | None) -> str | None:
    if code is None:
        return None
    s = SUITES.get(code)
    return s.name if s else f"0x{code:04X}"


def version_name(code: int | None) -> str | None:
    if code is None:
        return None
    return VERSIONS.get(code, f"0x{code:04X}")
