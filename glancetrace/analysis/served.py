"""Which Glance call a Keystone token validation served: one answer, for the token findings, the
lanes and the calls' `on_behalf_of`, so they can never disagree.

keystonemiddleware in glance-api validates the caller's token (GET, or HEAD, /v3/auth/tokens with
X-Subject-Token) while the caller's request is open.  Two rules, in this order:
  1. the token tie: the Glance call (the hop that reached glance-api) open at the validation, give or
     take SLACK, whose X-Auth-Token is the validated token (by fingerprint);
  2. for the validations the tie leaves open (a token the capture hides, a call whose ends were not
     captured): the Glance call in flight at the validation, preferring one served from the
     validation's host, the latest started.
"""

from __future__ import annotations

from bisect import bisect_right

from ..openstack.redact import fingerprint
from .calls import Call

SLACK = 0.05  # seconds: a validation may be logged a hair outside its request on another connection
SCAN = 512  # Glance calls looked back over for one still in flight


def host(endpoint: str | None) -> str:
    return (endpoint or "").rsplit(":", 1)[0].strip("[]")


def keystone_calls(calls: list[Call], *actions: str) -> list[Call]:
    """Keystone calls of these kinds that name a token (the hop closest to the caller when haproxy
    carried them)."""
    return [c for c in calls if c.service == "keystone" and c.kind in actions
            and not (c.hop == "backend" and c.peer) and c.meaning is not None and c.meaning.subject_token]


def validations(calls: list[Call]) -> list[Call]:
    return keystone_calls(calls, "token_validate", "token_check")


def caller_token(call: Call) -> str | None:
    tok = call.tx.header("x-auth-token")
    return fingerprint(tok) if tok else None


class GlanceCalls:
    """The calls that reached glance-api (direct or haproxy's backend hop), to find the one in flight."""

    def __init__(self, calls: list[Call]):
        self.calls = sorted((c for c in calls if c.service == "glance" and c.hop != "frontend"
                             and c.start is not None), key=lambda c: c.start)
        self.starts = [c.start for c in self.calls]
        self.hosts = {host(c.tx.server) for c in self.calls}

    def in_flight(self, at: float, from_host: str, token: str | None = None, image_id: str | None = None) -> Call | None:
        """The Glance call open at `at` that this one was most likely made for: one carrying the
        token, else one about the same image, else one served from `from_host` (the latest started
        of those), looking back over the last SCAN calls: a validation comes at a call's start.
        None when no open call qualifies."""
        best, best_score = None, 0
        i = bisect_right(self.starts, at)
        for g in reversed(self.calls[max(0, i - SCAN):i]):
            if g.end is not None and at > g.end:
                continue
            score = (4 * (token is not None and g.tx.header("x-auth-token") == token)
                     + 2 * (image_id is not None and g.image_id == image_id)
                     + (host(g.tx.server) == from_host))
            if score > best_score:
                best, best_score = g, score
        return best


def _outside(call: Call, at: float) -> float:
    """How far `at` lies outside the call (0 inside it; an unanswered call is open to the end)."""
    end = call.end if call.end is not None else float("inf")
    return max(call.start - at, at - end, 0.0)


def _token_tie(v: Call, carrying: list[Call]) -> Call | None:
    """Of the Glance calls carrying the validated token, the one open at the validation (the latest
    started when several are), else the nearest within SLACK."""
    best = min(carrying, key=lambda g: (_outside(g, v.start), -g.start), default=None)
    return best if best is not None and _outside(best, v.start) <= SLACK else None


def served_validations(calls: list[Call], glance: GlanceCalls | None = None) -> dict[str, str]:
    """validation call id → id of the Glance call it served, by the token tie, else by time and host."""
    glance = glance or GlanceCalls(calls)
    carrying: dict[str, list[Call]] = {}
    for g in glance.calls:  # the hop that reached Glance is the one Glance validated for
        tok = caller_token(g)
        if tok:
            carrying.setdefault(tok, []).append(g)
    served: dict[str, str] = {}
    for v in validations(calls):
        if v.start is None:
            continue
        g = _token_tie(v, carrying.get(v.meaning.subject_token, []))
        if g is None:
            g = glance.in_flight(v.start, host(v.tx.client), v.tx.header("x-subject-token"))
        if g is not None:
            served[v.id] = g.id
    return served
