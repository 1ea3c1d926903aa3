"""Redacted copies of secrets seen in OpenStack traffic: tokens, passwords, credential secrets, MySQL auth data.

Each secret is replaced by a short stable fingerprint, ``<redacted sha256:1a2b>`` (the first 4 hex digits of the
SHA-256 of the secret), so two tokens can still be told apart. keystoneauth's --debug output prints tokens as
``{SHA256}<hex>`` of the same digest, so a fingerprint can be matched against a client's debug log by prefix.
Every function takes ``show_secrets``: when true the input is returned unchanged (as a copy).
"""

from __future__ import annotations

import copy
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
        "x-image-meta-property-password",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "openstack-auth-receipt",
    }
)

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
        "x_auth_token",
    }
)

# SQL columns holding secrets (Keystone: password.password_hash, application_credential.secret_hash, …).
SECRET_COLUMN = re.compile(r"(password|passwd|secret|encrypted_blob|token_id|private_key|credential_blob)", re.I)

_SQL_IDENTIFIED = re.compile(r"(IDENTIFIED\s+(?:VIA\s+\w+\s+)?(?:BY|USING|AS)\s+(?:PASSWORD\s+)?)('(?:[^'\\]|\\.|'')*')",
                             re.I)
_SQL_PASSWORD_FN = re.compile(r"((?:OLD_)?PASSWORD\s*\(\s*)('(?:[^'\\]|\\.|'')*')", re.I)
_SQL_SET_PASSWORD = re.compile(r"(SET\s+PASSWORD\b[^=]*=\s*)('(?:[^'\\]|\\.|'')*')", re.I)
_SQL_COL_ASSIGN = re.compile(
    r"((?:password|passwd|secret|encrypted_blob|token_id|private_key)\w*\s*=\s*)('(?:[^'\\]|\\.|'')*')", re.I
)
_SQL_INSERT = re.compile(r"^\s*(?:INSERT|REPLACE)\s+INTO\s+`?(\w+)`?\s*\(([^)]*)\)\s*VALUES\s*", re.I)
_SQL_STRING_OR_TOKEN = re.compile(r"'(?:[^'\\]|\\.|'')*'|NULL|[-\d.]+|\w+", re.I)
# Cheap pre-check: most statements (Keystone's SELECTs) mention none of these and are returned as they are.
_SQL_SECRET_WORDS = ("passw", "secret", "identified", "encrypted_blob", "token_id", "private_key")
_TOKEN_LIKE = re.compile(r"\bgAAAAA[\w-]{40,}={0,2}")  # Fernet tokens in free text


def fingerprint(secret: str | bytes | None) -> str:
    """First 4 hex digits of SHA-256 of the secret (stable across runs)."""
    if secret is None:
        return ""
    if isinstance(secret, str):
        secret = secret.encode("utf-8", "surrogateescape")
    return hashlib.sha256(secret).hexdigest()[:4]


def mask(secret: str | bytes | None) -> str:
    if secret is None:
        return ""
    if isinstance(secret, (bytes, bytearray)):
        secret = bytes(secret)
    return f"<redacted sha256:{fingerprint(secret)}>"


def redact_headers(headers: Iterable[tuple[str, str]], show_secrets: bool = False) -> list[tuple[str, str]]:
    if show_secrets:
        return list(headers)
    out = []
    for k, v in headers:
        if k.lower() in SECRET_HEADERS:
            if k.lower() in ("authorization", "proxy-authorization") and " " in v:
                scheme, _, cred = v.partition(" ")
                v = f"{scheme} {mask(cred)}"
            else:
                v = mask(v)
        out.append((k, v))
    return out


def redact_json(obj: Any, show_secrets: bool = False) -> Any:
    """A copy of a JSON value with secrets masked (auth request bodies, credential and app-credential bodies)."""
    if show_secrets:
        return copy.deepcopy(obj)
    return _redact_json(obj, parent=None)


def _redact_json(obj: Any, parent: str | None) -> Any:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            lk = k.lower() if isinstance(k, str) else k
            if lk in SECRET_KEYS and isinstance(v, (str, int, float)) and v != "":
                out[k] = mask(str(v))
            elif lk == "id" and parent in ("token", "tokens") and isinstance(v, str):
                # {"auth": {"identity": {"methods": ["token"], "token": {"id": "<token>"}}}}
                out[k] = mask(v)
            else:
                out[k] = _redact_json(v, lk if isinstance(lk, str) else None)
        return out
    if isinstance(obj, list):
        return [_redact_json(v, parent) for v in obj]
    if isinstance(obj, str) and _TOKEN_LIKE.search(obj):
        return _TOKEN_LIKE.sub(lambda m: mask(m.group(0)), obj)
    return obj


def redact_body_text(text: bytes | str | None, show_secrets: bool = False) -> bytes | str | None:
    """Mask secrets in a (possibly truncated) body: JSON when it parses, else by pattern."""
    if text is None or show_secrets:
        return text
    as_bytes = isinstance(text, (bytes, bytearray))
    s = bytes(text).decode("utf-8", "replace") if as_bytes else text
    try:
        red = json.dumps(_redact_json(json.loads(s), None))
    except ValueError:
        red = re.sub(
            r'("(?:%s)"\s*:\s*)"((?:[^"\\]|\\.)*)"' % "|".join(sorted(SECRET_KEYS)),
            lambda m: m.group(1) + '"' + mask(m.group(2)) + '"',
            s,
            flags=re.I,
        )
        red = _TOKEN_LIKE.sub(lambda m: mask(m.group(0)), red)
    return red.encode() if as_bytes else red


def _mask_sql_literal(lit: str) -> str:
    inner = lit[1:-1] if len(lit) >= 2 and lit[0] == "'" else lit
    return f"'{mask(inner)}'"


def redact_sql(sql: str | None, show_secrets: bool = False) -> str | None:
    """Mask passwords in SQL: IDENTIFIED BY '…', PASSWORD('…'), SET PASSWORD, password/secret columns."""
    if sql is None or show_secrets:
        return sql
    low = sql.lower()
    if not any(w in low for w in _SQL_SECRET_WORDS):
        return sql
    return _redact_sql(sql)


@lru_cache(maxsize=4096)  # Keystone repeats the same password-table SELECTs many times
def _redact_sql(sql: str) -> str:
    if "'" not in sql:  # no literal, nothing to mask
        return sql
    s = _SQL_IDENTIFIED.sub(lambda m: m.group(1) + _mask_sql_literal(m.group(2)), sql)
    s = _SQL_PASSWORD_FN.sub(lambda m: m.group(1) + _mask_sql_literal(m.group(2)), s)
    s = _SQL_SET_PASSWORD.sub(lambda m: m.group(1) + _mask_sql_literal(m.group(2)), s)
    s = _SQL_COL_ASSIGN.sub(lambda m: m.group(1) + _mask_sql_literal(m.group(2)), s)
    m = _SQL_INSERT.match(s)
    if m:
        cols = [c.strip(" `") for c in m.group(2).split(",")]
        secret_idx = {i for i, c in enumerate(cols) if SECRET_COLUMN.search(c)}
        if secret_idx:
            s = s[: m.end()] + _redact_values(s[m.end():], secret_idx, len(cols))
    return s


def _redact_values(values: str, secret_idx: set[int], ncols: int) -> str:
    # Walk the VALUES (…), (…) list by literal; mask the literals in secret column positions.
    out = []
    pos = 0
    i = 0
    for lit in _SQL_STRING_OR_TOKEN.finditer(values):
        if i % ncols in secret_idx and lit.group(0).startswith("'"):
            out.append(values[pos: lit.start()])
            out.append(_mask_sql_literal(lit.group(0)))
            pos = lit.end()
        i += 1
    out.append(values[pos:])
    return "".join(out)


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


_SECRET_HEADER_TEXT = re.compile(r"\b(%s)(\s*[:=]\s*)(\"?)([^\s\",]+)" % "|".join(sorted(SECRET_HEADERS)), re.I)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@/\s]+)(@)")
_PASSWORD_TEXT = re.compile(r"\b(password|passwd|secret)(\s*[=:]\s*)(['\"]?)([^\s'\",}]+)", re.I)


def redact_log_text(text: str | None, show_secrets: bool = False) -> str | None:
    """A log line or message with tokens and passwords masked: secret headers and ``password=…``
    as written in free text, JSON secrets and Fernet tokens (keystoneauth's ``{SHA256}…`` hashes stay)."""
    if text is None or show_secrets:
        return text
    text = _SECRET_HEADER_TEXT.sub(lambda m: m.group(1) + m.group(2) + m.group(3) + _mask_unless_hashed(m.group(4)),
                                   text)
    text = _PASSWORD_TEXT.sub(lambda m: m.group(1) + m.group(2) + m.group(3) + _mask_unless_hashed(m.group(4)),
                              text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + mask(m.group(2)) + m.group(3), text)
    return redact_body_text(text)


def _mask_unless_hashed(value: str) -> str:
    return value if value.startswith(("{SHA256}", "<redacted", "***")) else mask(value)
