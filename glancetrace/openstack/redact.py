"""Redacted copies of secrets seen in OpenStack traffic: tokens, passwords, credential secrets, MySQL auth data.

Each secret is replaced by a short stable fingerprint, ``<redacted sha256:1a2b>`` (the first 4 hex digits of the
SHA-256 of the secret), so two tokens can still be told apart. keystoneauth's --debug output prints tokens as
``{SHA256}<hex>`` of the same digest, so a fingerprint can be matched against a client's debug log by prefix.
Functions that take ``show_secrets`` return their input unchanged when it is true.  Masking is
idempotent: a mask is never masked again.  Functions that take ``found`` add each secret they masked to it, so
that the output step (redact_output.py) can mask echoes of it elsewhere, e.g. in an error message.

These are the building blocks; every output goes through ``redact_output.redact_output``.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any, Iterable

# Headers whose whole value is a secret.
SECRET_HEADERS = frozenset(
    {
        "x-auth-token",
        "x-subject-token",
        "x-service-token",
        "x-storage-token",
        "x-auth-key",
        "x-storage-pass",  # Swift v1 auth (tempauth/swauth): the password itself
        "x-auth-user-key",
        "x-image-meta-property-password",
        "x-account-meta-temp-url-key",
        "x-account-meta-temp-url-key-2",
        "x-container-meta-temp-url-key",
        "x-container-meta-temp-url-key-2",
        "x-container-sync-key",
        "x-amz-security-token",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "openstack-auth-receipt",
    }
)
# Other header names that say they carry a secret (Glance v1 image properties, vendor headers).
_SECRET_HEADER_NAME = re.compile(r"passw|secret|token|temp-url-key|sync-key", re.I)
# Headers holding tokens: Fernet/JWS tokens are found by pattern anywhere, so they are not remembered for echoes.
TOKEN_HEADERS = frozenset({"x-auth-token", "x-subject-token", "x-service-token", "x-storage-token", "cookie",
                           "set-cookie", "openstack-auth-receipt", "x-amz-security-token"})

# JSON keys whose value is a secret wherever they appear (Keystone auth and credential bodies).
SECRET_KEYS = frozenset(
    {
        "password",
        "original_password",
        "secret",
        "client_secret",
        "access_token",
        "access_secret",
        "consumer_secret",
        "oauth_token_secret",
        "passcode",
        "totp",
        "blob",  # /v3/credentials (EC2/TOTP secrets)
        "token_id",
        "auth_token",
        "x_auth_token",
        "signature",  # /v3/ec2tokens and /v3/s3tokens: the request's HMAC
        "secret_key",
        "temp_url_key",
        "temp_url_sig",
    }
)
# Keystone auth methods: under "identity" these keys hold the method's object ({"user": …}), not a secret.
AUTH_METHOD_PARENT = "identity"

# SQL columns holding secrets (Keystone: password.password_hash, application_credential.secret_hash, …).
SECRET_COLUMN = re.compile(r"(password|passwd|secret|encrypted_blob|token_id|private_key|credential_blob)", re.I)

MASKED = re.compile(r"<redacted sha256:[0-9a-f]{4}>")

# An SQL literal: '…' or "…" (MySQL reads both as strings), with an optional charset introducer or x/b/n prefix,
# or a hex number (MySQL 8 writes caching_sha2 hashes as 0x…).  A literal cut by the end of a truncated statement
# runs to the end.
_LIT = (r"""(?:_\w+\s*)?[xXbBnN]?(?:'(?:[^'\\]|\\.|'')*(?:'|\\?\Z)|"(?:[^"\\]|\\.|"")*(?:"|\\?\Z))"""
        r"|0[xX][0-9a-fA-F]+")
_SQL_RULES = [re.compile(p + r"(" + _LIT + r")", re.I | re.S) for p in (
    # IDENTIFIED BY 'pw' | IDENTIFIED {VIA|WITH} plugin {BY|USING|AS} [PASSWORD(]'…' | … OR plugin USING '…'
    r"((?:\bIDENTIFIED\s+(?:(?:VIA|WITH)\s+(?:\w+|'[^']*'|\"[^\"]*\"|`[^`]*`)\s+)?|\bOR\s+\w+\s+)"
    r"(?:BY|USING|AS)\s+(?:PASSWORD\s*\(\s*)?)",
    r"(\b(?:OLD_)?PASSWORD\s*\(\s*)",  # PASSWORD('pw')
    r"(\bSET\s+PASSWORD\b[^=]*=\s*)",  # SET PASSWORD [FOR u] = 'pw'
    r"(\bREPLACE\s+)",  # ALTER USER … IDENTIFIED BY 'new' REPLACE 'old'
    r"(\bPASSWORD\s+)",  # IDENTIFIED BY PASSWORD '*hash', CREATE SERVER … OPTIONS (PASSWORD 'pw')
    # password_hash = '…', MASTER_PASSWORD='…', SOURCE_PASSWORD = '…', `secret_hash`='…'
    r"((?:password|passwd|secret|encrypted_blob|token_id|private_key|credential_blob)\w*`?\s*(?:=|<=>)\s*)",
)]
_SQL_INSERT = re.compile(r"\b(?:INSERT|REPLACE)\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s+)*(?:INTO\s+)?"
                         r"[`\"]?[\w.]+[`\"]?\s*\(([^)]*)\)\s*VALUES?\s*", re.I)
_SQL_VALUE = re.compile(_LIT + r"|\bNULL\b|[-+\d.]+|\w+|\?", re.I | re.S)  # ?: a fingerprint's placeholder
# Cheap pre-check: most statements (Keystone's SELECTs) mention none of these and are returned as they are.
_SQL_SECRET_WORDS = ("passw", "secret", "identified", "encrypted_blob", "token_id", "private_key", "credential_blob")

# Query-string parameters (and key=value text) whose value is a secret: ?password=…, Swift's temp_url_sig, S3's
# X-Amz-Signature, ?token=….
# "pass" and "sig" only as words of the name (temp_url_sig, X-Storage-Pass), not inside bypass= or design=.
_QUERY_SECRET = re.compile(r"(?:(?<=[?&;\s,(])|^)([\w.-]*?(?:passw|(?<![a-z])pass(?![a-z])|secret|token"
                           r"|(?<![a-z])sig(?:nature)?(?![a-z]))[\w.-]*=)(?!<redacted )([^&#\s\"'<>]+)", re.I)
_URL_USERINFO = re.compile(r"(\b[a-z][\w+.-]*://[^/\s:@\"'<>]+:)([^@/\s\"'<>]+)(@)", re.I)


def fingerprint(secret: str | bytes | None) -> str:
    """First 4 hex digits of SHA-256 of the secret (stable across runs)."""
    if secret is None:
        return ""
    if isinstance(secret, str):
        secret = secret.encode("utf-8", "surrogateescape")
    return hashlib.sha256(secret).hexdigest()[:4]


def mask(secret: str | bytes | None, found: set[str] | None = None) -> str:
    """``<redacted sha256:1a2b>``; a mask stays as it is."""
    if secret is None:
        return ""
    if isinstance(secret, (bytes, bytearray)):
        secret = bytes(secret)
    elif MASKED.fullmatch(secret):
        return secret
    if found is not None and isinstance(secret, str):
        found.add(secret)
    return f"<redacted sha256:{fingerprint(secret)}>"


def is_secret_header(name: str) -> bool:
    low = name.lower()
    return low in SECRET_HEADERS or bool(_SECRET_HEADER_NAME.search(low))


def redact_header_value(name: str, value: str, found: set[str] | None = None) -> str:
    """The value of a secret header, masked (an Authorization scheme is kept: ``Basic <redacted …>``)."""
    low = name.lower()
    keep = None if low in TOKEN_HEADERS else found
    if low in ("authorization", "proxy-authorization") and " " in value.strip():
        scheme, _, cred = value.strip().partition(" ")
        return f"{scheme} {mask(cred, keep)}"
    return mask(value, keep)


def redact_headers(headers: Iterable[tuple[str, str]], show_secrets: bool = False,
                   found: set[str] | None = None) -> list[tuple[str, str]]:
    if show_secrets:
        return list(headers)
    return [(k, redact_header_value(k, v, found) if is_secret_header(k) else v) for k, v in headers]


def is_secret_value(v: Any) -> bool:
    """A value worth masking: not empty, not a flag."""
    return v not in (None, "", [], {}) and not isinstance(v, bool)


def mask_value(v: Any, found: set[str] | None) -> str:
    """A secret of any JSON type as one mask; each string or number inside is remembered for echoes."""
    if isinstance(v, (dict, list, tuple)):
        if found is not None:
            _leaves(v, found)
        return mask(json.dumps(v, sort_keys=True, default=str))
    return mask(str(v), found)


def _leaves(v: Any, found: set[str]) -> None:
    if isinstance(v, dict):
        for x in v.values():
            _leaves(x, found)
    elif isinstance(v, (list, tuple)):
        for x in v:
            _leaves(x, found)
    elif is_secret_value(v):
        found.add(str(v))


def _mask_sql_literal(lit: str, found: set[str] | None) -> str:
    """'pw' → '<redacted …>' keeping the quote; a charset introducer or x prefix is dropped, a hex number quoted."""
    quote = min((i for i in (lit.find("'"), lit.find('"')) if i >= 0), default=-1)
    if quote < 0:
        return f"'{mask(lit, found)}'"
    q, body = lit[quote], lit[quote + 1:]
    inner = body[:-1] if body.endswith(q) else body  # a literal cut by the end of the statement has no close
    return f"{q}{mask(inner, found)}{q}"


def _is_literal(token: str) -> bool:
    return token[:2].lower() == "0x" or "'" in token or '"' in token


def redact_sql(sql: str | None, show_secrets: bool = False, found: set[str] | None = None) -> str | None:
    """Mask passwords in SQL: IDENTIFIED BY/WITH/VIA, PASSWORD('…'), SET PASSWORD, password and secret columns
    assigned or inserted (Keystone's password_hash, secret_hash), MASTER_PASSWORD, in '…' or "…" literals."""
    if sql is None or show_secrets:
        return sql
    low = sql.lower()
    if not any(w in low for w in _SQL_SECRET_WORDS):
        return sql
    red, secrets = _redact_sql(sql)
    if found is not None:
        found.update(secrets)
    return red


@lru_cache(maxsize=4096)  # Keystone repeats the same password-table SELECTs many times
def _redact_sql(sql: str) -> tuple[str, frozenset[str]]:
    if "'" not in sql and '"' not in sql and "0x" not in sql.lower():  # no literal, nothing to mask
        return sql, frozenset()
    found: set[str] = set()
    s = sql
    for rule in _SQL_RULES:
        s = rule.sub(lambda m: m.group(1) + _mask_sql_literal(m.group(2), found), s)
    pos = 0
    while m := _SQL_INSERT.search(s, pos):
        cols = [c.strip(" `\"\n\t") for c in m.group(1).split(",")]
        secret_idx = {i for i, c in enumerate(cols) if SECRET_COLUMN.search(c)}
        tail = _redact_values(s[m.end():], secret_idx, len(cols), found) if secret_idx else s[m.end():]
        s = s[: m.end()] + tail
        pos = m.end()
    return s, frozenset(found)


def _redact_values(values: str, secret_idx: set[int], ncols: int, found: set[str]) -> str:
    # Walk the VALUES (…), (…) list by literal; mask the literals in secret column positions.
    out = []
    pos = 0
    for i, lit in enumerate(_SQL_VALUE.finditer(values)):
        text = lit.group(0)
        if i % ncols in secret_idx and _is_literal(text):
            out.append(values[pos: lit.start()])
            out.append(_mask_sql_literal(text, found))
            pos = lit.end()
    out.append(values[pos:])
    return "".join(out)


def redact_uri(text: str, found: set[str] | None = None) -> str:
    """Mask secret query parameters (password=, temp_url_sig=, X-Amz-Signature=, token=) and URL passwords."""
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + mask(m.group(2), found), text)
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: m.group(1) + mask(m.group(2), found) + m.group(3), text)
    return text


def redact_rows(columns: list[str], rows: list[list[Any]], show_secrets: bool = False) -> list[list[Any]]:
    """Result-set rows with secret columns (e.g. Keystone's password_password_hash) masked."""
    if show_secrets:
        return [list(r) for r in rows]
    idx = {i for i, c in enumerate(columns) if SECRET_COLUMN.search(c or "")}
    return [[mask(str(v)) if i in idx and v not in (None, "") else v for i, v in enumerate(r)] for r in rows]


def redact_auth_data(data: bytes | None, show_secrets: bool = False) -> str | None:
    """MySQL handshake auth response (scrambled password): only its fingerprint is ever shown."""
    if data is None:
        return None
    if show_secrets:
        return bytes(data).hex()
    return mask(bytes(data))
