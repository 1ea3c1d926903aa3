"""The one redaction step every output goes through.

Whatever glancetrace prints or writes — the analysis document behind ``report`` (HTML, JSON, the summary on
stderr) and ``images``, the rows of ``http`` and ``sql``, the ``sql --digest`` samples — is built as plain
dicts, lists and strings and handed to ``redact_output`` before any format sees it:

1. every dict: the value of a secret key (``password``, ``secret``, … see redact.SECRET_KEYS) is masked
   whatever its type, header lists ``[[name, value], …]`` have their secret headers masked;
2. every string (dict keys too): redact_text's rules (SQL, query strings, key/value fragments, tokens, …);
3. every string again: any other occurrence of a secret masked in 1 or 2 — a password Keystone or MySQL
   repeated in an error message, a secret in a note — is masked too.

With ``show_secrets`` the value is returned as it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .redact import mask, redact_json_value
from .redact_text import FERNET, JWS, redact_text, unmasked_parts

# Shorter secrets are not searched for elsewhere: "1234" would mask frame numbers in Wireshark filters.
MIN_ECHO = 6


def redact_output(obj: Any, show_secrets: bool = False) -> Any:
    """A copy of an output value (dicts, lists, strings, numbers) with every secret in it masked."""
    if show_secrets:
        return obj
    found: set[str] = set()
    out = redact_json_value(obj, None, found, _memo(lambda s: redact_text(s, found)))
    echoes = _Echoes(found)
    return _map_strings(out, _memo(echoes)) if echoes.secrets else out


def _memo(f, limit: int = 8192):
    """``f`` remembering its results for short strings: an output repeats its keys, addresses and statuses
    thousands of times.  Bounded, so a big capture's unique short strings do not pile up."""
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
        self.pattern = re.compile(r"(?<![A-Za-z0-9])(?:%s)(?![A-Za-z0-9])" % "|".join(map(re.escape, self.secrets)))
        # substring tests reject most strings faster than the alternation, while the secrets are few
        self.prefilter = len(self.secrets) <= 64

    def __call__(self, s: str) -> str:
        if self.prefilter and not any(x in s for x in self.secrets):
            return s
        if "<redacted " not in s:
            return self.pattern.sub(_mask_match, s)
        return "".join(part if is_mask else self.pattern.sub(_mask_match, part) for is_mask, part in unmasked_parts(s))


def _mask_match(m: re.Match) -> str:
    return mask(m.group(0))


def _map_strings(obj: Any, f) -> Any:
    if isinstance(obj, str):
        return f(obj)
    if isinstance(obj, dict):
        return {(f(k) if isinstance(k, str) else k): _map_strings(v, f) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_map_strings(v, f) for v in obj]
    return obj
