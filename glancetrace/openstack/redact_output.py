"""The one redaction step every output goes through.

Whatever glancetrace prints or writes — the analysis document behind ``report`` (HTML, JSON, the summary on
stderr) and ``images``, the rows of ``http`` and ``sql``, the ``sql --digest`` samples — is built as plain
dicts, lists and strings and handed to ``redact_output`` before any format sees it:

1. every dict: the value of a secret key (``password``, ``secret``, … see redact.SECRET_KEYS) is masked
   whatever its type, header lists ``[[name, value], …]`` have their secret headers masked;
2. every string (dict keys too): redact_text's rules (SQL, query strings, key/value fragments, tokens, …);
3. any other occurrence of a secret masked in 1 or 2 — a password Keystone or MySQL repeated in an error
   message, a secret in a note — is masked too: searched for as the walk goes, and again in what was walked
   before the secret turned up.

With ``show_secrets`` the value is returned as it is.
"""

from __future__ import annotations

import itertools
import json
import re
from functools import lru_cache
from typing import Any

from .redact import (AUTH_METHOD_PARENT, SECRET_HEADERS, SECRET_KEYS, is_secret_header, is_secret_value, mask, mask_value,
                     redact_header_value)
from .redact_text import FERNET, JWS, redact_text, unmasked_parts

# Shorter secrets are not searched for elsewhere: "1234" would mask frame numbers in Wireshark filters.
MIN_ECHO = 6


def redact_output(obj: Any, show_secrets: bool = False) -> Any:
    """An output value (dicts, lists, strings, numbers) with every secret in it masked; the parts in which
    nothing changed are shared with the input, which is never modified.

    Each string is searched for the secrets found so far as the walk goes; the top-level parts (the document's
    sections, the rows) walked before the last new secret turned up are searched again for all of them.  The
    document's auth bodies come before its statements, which are then walked once."""
    if show_secrets:
        return obj
    cls = obj.__class__
    parts = [{k: v} for k, v in obj.items()] if cls is dict else list(obj) if cls is list else [obj]
    found: set[str] = set()
    text = _Text(found)
    last_growth = -1
    for i, part in enumerate(parts):
        before = len(found)
        parts[i] = redact_json_value(part, None, found, text)
        if len(found) != before:
            last_growth = i
    echoes = _Echoes(found)
    if echoes.secrets:
        again = len(parts) if len(echoes.secrets) > _FEW else last_growth + 1  # many: not searched on the way
        search = _memo(echoes)
        for i in range(again):
            parts[i] = _map_strings(parts[i], search)
    if cls is dict:
        return {k: v for part in parts for k, v in part.items()}
    return parts if cls is list else parts[0]


def _memo(f, limit: int = 8192):
    """``f`` remembering its results for short strings (bounded, as _Text's)."""
    cache: dict[str, str] = {}

    def g(s: str) -> str:
        r = cache.get(s)
        if r is None:
            r = f(s)
            if len(s) <= 80:
                if len(cache) >= limit:
                    cache.clear()
                cache[s] = r
        return r
    return g


# Up to this many secrets, each string is searched for them by substring tests, on the way; more are searched
# for with one regular expression, once, at the end (compiling it again for each new secret would not pay).
_FEW = 64


class _Text:
    """redact_text, then the secrets found so far; results of short strings remembered (an output repeats its
    keys, addresses and statuses thousands of times; bounded, so unique short strings do not pile up)."""

    def __init__(self, found: set[str], limit: int = 8192):
        self.found, self.limit = found, limit
        self.known = 0  # how many secrets the echoes and the remembered results were made with
        self.echoes: _Echoes | None = None
        self.cache: dict[str, str] = {}

    def __call__(self, s: str) -> str:
        if len(self.found) != self.known:
            self._renew()
        r = self.cache.get(s)
        if r is None:
            r = redact_text(s, self.found)
            if len(self.found) != self.known:
                self._renew()
            if self.echoes is not None:
                r = self.echoes(r)
            if len(s) <= 80:
                if len(self.cache) >= self.limit:
                    self.cache.clear()
                self.cache[s] = r
        return r

    def _renew(self) -> None:
        self.known = len(self.found)
        echoes = _Echoes(self.found)
        self.echoes = echoes if echoes.secrets and len(echoes.secrets) <= _FEW else None
        self.cache.clear()


def redact_json(obj: Any, show_secrets: bool = False, found: set[str] | None = None) -> Any:
    """A JSON value with the values of secret keys masked (auth, credential and app-credential bodies); its
    other strings as they are.  The input is not modified."""
    if show_secrets:
        return obj
    return redact_json_value(obj, None, found, lambda s: s)


def redact_json_value(obj: Any, parent: str | None, found: set[str] | None, text) -> Any:
    """Walk a JSON value: mask the values of secret keys (a list or object too), run ``text`` on other strings.

    Copy on write: a dict or list in which nothing changed is returned as it is (an output is mostly numbers and
    harmless strings, so this spares rebuilding it); the input is never modified."""
    cls = obj.__class__
    if cls is str:
        return text(obj)
    if cls is dict:
        return _redact_dict(obj, parent, found, text)
    if cls is list or cls is tuple:
        out = None
        for i, v in enumerate(obj):
            if v.__class__ in _SCALARS:
                continue
            r = redact_json_value(v, parent, found, text)
            if r is not v:
                if out is None:
                    out = list(obj)
                out[i] = r
        return obj if out is None else out
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, dict):
        return _redact_dict(obj, parent, found, text)
    if isinstance(obj, (list, tuple)):
        return redact_json_value(list(obj), parent, found, text)
    return obj


_SCALARS = frozenset({int, float, bool, type(None)})


def _redact_dict(obj: dict, parent: str | None, found: set[str] | None, text) -> dict:
    out = None
    i = -1
    for k, v in obj.items():
        i += 1
        lk, kind, rk = _key_kind(k) if k.__class__ is str else (None, _PLAIN, k)
        if kind == _PLAIN:  # nearly every key: the common case first
            vc = v.__class__
            r = v if vc in _SCALARS else text(v) if vc is str else redact_json_value(v, lk, found, text)
        elif kind == _SECRET and is_secret_value(v) and not (isinstance(v, dict) and parent == AUTH_METHOD_PARENT):
            r = mask_value(v, found)
        elif kind == _HEADERS and isinstance(v, (list, tuple)):
            r = [_header_pair(h, found, text) for h in v]  # an output's [[name, value], …]
        elif kind == _ID and parent in ("token", "tokens") and isinstance(v, str):
            r = mask(v)  # {"auth": {"identity": {"methods": ["token"], "token": {"id": "<token>"}}}}
        else:
            r = redact_json_value(v, lk, found, text)
        if out is None and (r is not v or rk is not k):
            out = dict(itertools.islice(obj.items(), i))  # the first change: copy what came before
        if out is not None:
            out[rk] = r
    return obj if out is None else out


_PLAIN, _SECRET, _HEADERS, _ID = range(4)


@lru_cache(maxsize=1024)
def _key_kind(k: str) -> tuple[str, int, str]:
    """(lower-cased key, what its value is, the key itself with secrets masked: a hostile body's key can be one)."""
    lk = k.lower()
    kind = _SECRET if lk in SECRET_KEYS else _HEADERS if lk.endswith("headers") else _ID if lk == "id" else _PLAIN
    rk = redact_text(k)
    return lk, kind, (k if rk == k else rk)


def _header_pair(h: Any, found: set[str] | None, text) -> Any:
    if isinstance(h, (list, tuple)) and len(h) == 2 and isinstance(h[0], str) and isinstance(h[1], str):
        name, value = h
        return [text(name), redact_header_value(name, value, found) if is_secret_header(name) else text(value)]
    return redact_json_value(h, None, found, text)


def redact_body_text(text: bytes | str | None, show_secrets: bool = False) -> bytes | str | None:
    """A (possibly truncated) body with secrets masked: as JSON when it parses, else as text."""
    if text is None or show_secrets:
        return text
    as_bytes = isinstance(text, (bytes, bytearray))
    s = bytes(text).decode("utf-8", "replace") if as_bytes else text
    try:
        red = json.dumps(redact_output(json.loads(s)))
    except ValueError:
        red = redact_output(s)
    return red.encode() if as_bytes else red


class _Echoes:
    """Masks other occurrences of the secrets already masked (tokens excepted: found by their shape anywhere)."""

    def __init__(self, found: set[str]):
        self.secrets = sorted((s for s in found if len(s) >= MIN_ECHO and not FERNET.fullmatch(s)
                               and not JWS.fullmatch(s)), key=len, reverse=True)
        self.prefilter = len(self.secrets) <= _FEW  # substring tests reject most strings faster
        self._pattern: re.Pattern | None = None

    @property
    def pattern(self) -> re.Pattern:
        if self._pattern is None:  # compiled when a string holds one of the secrets
            alternatives = "|".join(map(re.escape, self.secrets))
            self._pattern = re.compile(r"(?<![A-Za-z0-9])(?:%s)(?![A-Za-z0-9])" % alternatives)
        return self._pattern

    def __call__(self, s: str) -> str:
        if self.prefilter and not any(x in s for x in self.secrets):
            return s
        if "<redacted " not in s:
            return self.pattern.sub(_mask_match, s)
        return "".join(part if is_mask else self.pattern.sub(_mask_match, part) for is_mask, part in unmasked_parts(s))


def _mask_match(m: re.Match) -> str:
    return mask(m.group(0))


def _map_strings(obj: Any, f) -> Any:
    """``f`` on every string (dict keys too), copying only the containers in which something changed."""
    cls = obj.__class__
    if cls is str:
        return f(obj)
    if cls is dict:
        out = None
        for i, (k, v) in enumerate(obj.items()):
            rk = f(k) if k.__class__ is str else k
            r = v if v.__class__ in _SCALARS else _map_strings(v, f)
            if out is None and (r is not v or rk is not k):
                out = dict(itertools.islice(obj.items(), i))
            if out is not None:
                out[rk] = r
        return obj if out is None else out
    if cls is list or cls is tuple:
        out = None
        for i, v in enumerate(obj):
            if v.__class__ in _SCALARS:
                continue
            r = _map_strings(v, f)
            if r is not v:
                if out is None:
                    out = list(obj)
                out[i] = r
        return obj if out is None else out
    return obj


# -- log lines (analysis/logdoc.py, logmatch.py): free text as services and clients write it

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
