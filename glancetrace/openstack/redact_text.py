"""Secrets in free text: error messages, notes, reasons, URIs, SQL, cut-off bodies.

``redact_text`` masks, in any string, what is recognisable as a secret without knowing where the string came
from: SQL passwords (redact.redact_sql), secret query parameters and URL passwords, ``"password": …`` in JSON or
Python-repr fragments (whatever the value's type, cut off or not), header lines such as ``X-Auth-Token: …``,
Fernet and JWS tokens, and Keystone's schema-validation messages, which repeat the rejected value
(``Invalid input for field 'identity/password/user/password': ['a', 'b'] is not of type 'string'``).
"""

from __future__ import annotations

import re

from .redact import MASKED, SECRET_HEADERS, SECRET_KEYS, TOKEN_HEADERS, mask, redact_sql, redact_uri

# Cheap pre-check (lower-cased substrings, much faster than one regex): a string that holds none of these is
# returned as it is, which is most strings of an output.  Every rule below needs one of them to match.
_WORTH_A_LOOK = ("pass", "secret", "identified", "token", "gaaaa", "eyj", "sig=", "_sig", "signature",
                 "authoriz", "auth-key", "auth_key", "cookie", "url-key", "url_key", "sync-key", "blob", "://",
                 "totp", "private_key")

_KEYS = "|".join(sorted((re.escape(k) for k in SECRET_KEYS), key=len, reverse=True))
_KEY_VALUE = re.compile(r"([\"'])(?:%s)\1\s*[:=]\s*" % _KEYS, re.I)
_METHOD_OBJECT = re.compile(r"\{\s*[\"'](?:user|id|name)[\"']")  # identity.password = {"user": …}: not a secret
_QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'", re.S)
_BARE = re.compile(r"[^,}\]\r\n]*")

_HEADER_NAMES = "|".join(sorted((re.escape(h) for h in SECRET_HEADERS), key=len, reverse=True))
_HEADER_LINE = re.compile(r"(?<![\w-])((?:%s)\s*+:\s*+)(?!<redacted )([^\r\n\"']+)" % _HEADER_NAMES, re.I)

FERNET = re.compile(r"\bgAAAAA[\w-]{40,}={0,2}")  # Keystone's Fernet tokens
JWS = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")  # Keystone's JWS tokens, other JWTs
_TOKEN_ECHO = re.compile(r"(Could not find token:?+\s*+)(?!<redacted )([^\s\"'<>,]+)", re.I)

# Keystone's validation errors (keystone/common/validation/validators.py) embed jsonschema's text.
_INVALID_FIELD = re.compile(r"(Invalid input for field '([^']*)'\s*:\s*)(.+)", re.S)
_ON_INSTANCE = re.compile(r"(On instance((?:\[[^\]]*\])+):\s*)(\S.*?)(?=\n\s*\n|\Z)", re.S)


def redact_text(s: str, found: set[str] | None = None) -> str:
    """``s`` with every secret recognisable in it masked; each masked secret (not tokens) is added to ``found``."""
    low = s.lower()
    if not any(w in low for w in _WORTH_A_LOOK):
        return s
    if "nvalid input" in s or "n instance" in s:
        s = _validation_echo(s)
    s = redact_sql(s, found=found) or s
    if "=" in s or "://" in s:
        s = redact_uri(s, found)
    if "'" in s or '"' in s:
        s = _key_values(s, found)
    if ":" in s:
        s = _HEADER_LINE.sub(lambda m: m.group(1) + _header_value(m.group(1), m.group(2), found), s)
    if "gAAAAA" in s:
        s = FERNET.sub(lambda m: mask(m.group(0)), s)
    if "eyJ" in s:
        s = JWS.sub(lambda m: mask(m.group(0)), s)
    if "find token" in low:
        s = _TOKEN_ECHO.sub(lambda m: m.group(1) + mask(m.group(2)), s)
    return s


def _header_value(prefix: str, value: str, found: set[str] | None) -> str:
    name = prefix.rstrip(": \t").lower()
    return mask(value.strip(), None if name in TOKEN_HEADERS else found)


def _validation_echo(s: str) -> str:
    """Keystone's message for a rejected password repeats the password: keep the field, mask the rest."""
    m = _INVALID_FIELD.search(s)
    if m and _last(m.group(2).split("/")) in SECRET_KEYS:
        s = s[: m.start(3)] + mask(m.group(3))
    return _ON_INSTANCE.sub(lambda m: m.group(1) + mask(m.group(3))
                            if _last(re.findall(r"\[([^\]]*)\]", m.group(2))) in SECRET_KEYS else m.group(0), s)


def _last(parts: list[str]) -> str:
    return parts[-1].strip("'\" ").lower() if parts else ""


def _key_values(s: str, found: set[str] | None) -> str:
    """Mask the value after each ``"password":`` (or ``'password':``): a string, a number, a list or an object,
    complete or cut off by the end of the text."""
    out: list[str] = []
    pos = 0
    for m in _KEY_VALUE.finditer(s):
        start = m.end()
        if start < pos or s.startswith("<redacted ", start) or s.startswith("<redacted ", start + 1):
            continue
        if _METHOD_OBJECT.match(s, start):
            continue  # an auth method's object: its own secret keys are masked one by one
        end = _value_end(s, start)
        value = s[start:end]
        if not value.strip():
            continue
        out.append(s[pos:start])
        out.append(_masked_value(value, m.group(1), found))
        pos = end
    if not out:
        return s
    out.append(s[pos:])
    return "".join(out)


def _masked_value(value: str, quote: str, found: set[str] | None) -> str:
    q = value[0]
    if q in "\"'":
        inner = value[1:-1] if len(value) > 1 and value.endswith(q) else value[1:]
        return f"{q}{mask(inner, found)}{q}"
    if found is not None:
        if q in "[{":
            found.update(a or b for a, b in _QUOTED.findall(value) if len(a or b) > 0)
        else:
            found.add(value.strip())
    return f"{quote}{mask(value.strip())}{quote}"


def _value_end(s: str, i: int) -> int:
    """End of the JSON/repr value starting at ``i`` (the end of ``s`` when it is cut off)."""
    c = s[i: i + 1]
    if c in ("\"", "'"):
        return _string_end(s, i)
    if c in ("[", "{"):
        depth, j = 0, i
        while j < len(s):
            ch = s[j]
            if ch in "\"'":
                j = _string_end(s, j)
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return len(s)
    return _BARE.match(s, i).end()


def _string_end(s: str, i: int) -> int:
    q, j = s[i], i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
        elif s[j] == q:
            return j + 1
        else:
            j += 1
    return len(s)


def unmasked_parts(s: str) -> list[tuple[bool, str]]:
    """``s`` cut into (is_mask, text) pieces, so later rules leave masks alone."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in MASKED.finditer(s):
        parts.append((False, s[pos: m.start()]))
        parts.append((True, m.group(0)))
        pos = m.end()
    parts.append((False, s[pos:]))
    return parts
