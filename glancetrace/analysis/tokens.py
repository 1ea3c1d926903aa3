"""Why Glance answered 401: the caller's token was revoked, had expired, or Keystone did not know it.

Glance does not keep tokens: keystonemiddleware asks Keystone (GET /v3/auth/tokens, X-Subject-Token: the
caller's token) while the caller's request is open, and caches the answer.  Such a validation is Glance's
call, made for the request it served, not a client's: served.py says which request each one served.
The token's life comes from the Keystone calls the capture holds: its issue (expires_at in the response),
its revocation (DELETE /v3/auth/tokens).  Only fingerprints are used (redact.fingerprint), never the token.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .calls import Call
from .findings import Finding
from .served import caller_token, keystone_calls
from .story import clock

CODES = ("token-revoked", "token-expired", "token-unknown")


@dataclass(frozen=True)
class TokenLife:
    """What the capture says of one token (by fingerprint)."""

    token: str  # fingerprint
    issued: Call | None = None  # the POST /v3/auth/tokens that issued it
    expires_at: float | None = None
    revoked: Call | None = None  # the first DELETE /v3/auth/tokens that succeeded


def epoch_of(iso: str | None) -> float | None:
    """Keystone's expires_at ('2026-12-03T15:20:00.000000Z') as epoch seconds; None when unreadable."""
    if not isinstance(iso, str):
        return None
    try:
        d = dt.datetime.fromisoformat(iso.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)).timestamp()


def token_lives(calls: list[Call]) -> dict[str, TokenLife]:
    lives: dict[str, TokenLife] = {}
    for c in keystone_calls(calls, "token_issue"):
        if c.meaning.ok and c.meaning.subject_token not in lives:
            lives[c.meaning.subject_token] = TokenLife(c.meaning.subject_token, issued=c,
                                                       expires_at=epoch_of(c.meaning.expires_at))
    for c in keystone_calls(calls, "token_revoke"):
        fp = c.meaning.subject_token
        life = lives.get(fp, TokenLife(fp))
        if c.meaning.ok and life.revoked is None:
            lives[fp] = TokenLife(fp, life.issued, life.expires_at, revoked=c)
    return lives


def _why(call: Call, life: TokenLife | None, validation: Call | None) -> tuple[str, str] | None:
    """(code, words) for a 401, from the token's life; None when the capture does not tell.

    Keystone judges a token when Glance asks it, which can be well after the request began (Glance may
    first renew its own token): that moment, else the request's start, is when the token was used."""
    used = validation.start if validation is not None else call.start
    if life is not None and life.revoked is not None and life.revoked.start < used:
        r = life.revoked
        return "token-revoked", f"was revoked at {clock(r.start)} (DELETE /v3/auth/tokens, call {r.id})"
    if life is not None and life.expires_at is not None and life.expires_at < used:
        when = "Glance's validation" if validation is not None else "this call"
        return "token-expired", (f"had expired at {clock(life.expires_at)} (expires_at of its issue response), "
                                 f"{used - life.expires_at:.1f} s before {when}")
    if validation is not None and validation.tx.status == 404:
        return "token-unknown", "is unknown to Keystone (not issued in this capture, or revoked before it)"
    return None


def _body_cut(call: Call) -> str:
    """Glance answers 401 before reading the whole body: say how much it took, so no one reads an interrupted upload."""
    tx = call.tx
    declared = tx.header("content-length")
    if call.kind not in ("upload", "stage") or not (tx.incomplete or tx.truncated):
        return ""
    total = f" of {int(declared):,}" if declared and declared.isascii() and declared.isdigit() else ""
    return f"; Glance answered before the body was complete ({tx.request_body.size:,}{total} bytes sent)"


def _what(call: Call, labels: dict[str, str]) -> str:
    if call.image_id:
        return f"{call.kind} of {labels.get(call.image_id, 'image ' + call.image_id)}"
    name = call.meaning.image_name if call.kind == "create" and call.meaning is not None else None
    return f"create of image {name!r}" if name else f"{call.tx.method} {call.tx.uri}"


def token_findings(calls: list[Call], served: dict[str, str], labels: dict[str, str],
                   frames_of) -> list[Finding]:
    """One finding per Glance call refused with 401 whose token's fate the capture shows.

    labels: image id → how findings name it; frames_of(call) → its evidence frames."""
    lives = token_lives(calls)
    by_id = {c.id: c for c in calls}
    validation_of = {cid: by_id[vid] for vid, cid in served.items()}
    out = []
    for call in calls:
        if call.service != "glance" or call.tx.status != 401 or (call.hop == "backend" and call.peer):
            continue
        hop = by_id[call.peer] if call.hop == "frontend" and call.peer else call  # the hop Glance saw
        fp = caller_token(hop) or caller_token(call)
        if not fp:
            continue
        life, validation = lives.get(fp), validation_of.get(hop.id)
        why = _why(call, life, validation)
        if why is None:
            continue
        code, words = why
        what = _what(call, labels)
        msg = f"{what} → 401: its token <redacted sha256:{fp}> {words}"
        if life is not None and life.issued is not None:
            msg += f"; issued at {clock(life.issued.start)} (call {life.issued.id})"
        if validation is not None:
            reason = validation.meaning.error_message
            msg += (f"; Glance's validation GET /v3/auth/tokens (call {validation.id}) → "
                    f"{validation.tx.status if validation.tx.status is not None else 'no response'}"
                    + (f" “{reason}”" if reason else ""))
        msg += _body_cut(call)
        sev = "error" if call.kind in ("upload", "stage", "import") else "warning"
        out.append(Finding(sev, code, msg, image_id=call.image_id, call_id=call.id, frames=frames_of(call),
                           conn_id=call.tx.conn_id, capture=call.capture))
    return out
