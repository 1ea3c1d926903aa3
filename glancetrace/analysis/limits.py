"""Uploads Glance refused because a limit was reached: each limit its own finding, naming the limit and
the bytes Glance had received when it answered — not an "interrupted upload".

Glance answers 413 with its reason in the body (glance/api/v2/image_data.py):
  "The incoming image is too large: …"       image_size_cap (the largest image Glance accepts)
  "Image storage media is full: …"           the store has no space left (glance_store StorageFull)
  "Image exceeds the storage quota: …"       user_storage_quota (the project's total image bytes)
  oslo.limit's "… over limit …" / "Quota exceeded for resources: …"   unified limits (Keystone)
With unified limits ([DEFAULT] use_keystone_limits) oslo.limit names the limit, its value and the usage:
"Resource image_count_total is over limit of 2 due to current usage 2 and delta 1".  image_count_total
refuses the create itself (POST /v2/images → 413, no image is made); image_count_uploading and
image_size_total refuse an upload, image_stage_total a stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .findings import Finding


@dataclass(frozen=True)
class Limit:
    code: str
    needle: str  # in Glance's error message (lower case)
    what: str  # the limit, in words


LIMITS = (
    Limit("image-too-large", "incoming image is too large", "the image is larger than Glance's image_size_cap"),
    Limit("store-full", "storage media is full", "the image store is full (no space left where Glance writes images)"),
    Limit("storage-quota-exceeded", "exceeds the storage quota",
          "the project's image storage quota (user_storage_quota) is used up"),
    Limit("quota-exceeded", "over limit", "a unified limit (Keystone registered/project limit) is reached"),
    Limit("quota-exceeded", "quota exceeded", "a unified limit (Keystone registered/project limit) is reached"),
)
CODES = frozenset(x.code for x in LIMITS)
# oslo_limit.exception.OverLimitInfo, one per limit over
OVER = re.compile(r"Resource (\w+) is over limit of (\d+) due to current usage (\d+) and delta (\d+)")
UNITS = {"image_size_total": " MiB", "image_stage_total": " MiB"}


def unified_limits(reason: str) -> str | None:
    """The unified limits oslo.limit says are over, in words (None when it names none)."""
    over = [f"{name} (limit {int(lim):,}{UNITS.get(name, '')}; usage {int(use):,} + {int(delta):,} requested)"
            for name, lim, use, delta in OVER.findall(reason)]
    return "the unified limit " + ", ".join(over) + " is reached" if over else None


def _limit_of(call) -> Limit | None:
    m = call.meaning
    reason = (getattr(m, "error_message", None) or "") if m is not None else ""
    if call.tx.status != 413 or not reason:
        return None
    low = reason.lower()
    return next((x for x in LIMITS if x.needle in low), None)


def limit_finding(label: str, image_id: str, call, calls: dict, frames_of) -> Finding | None:
    """The limit a refused upload (or its backend hop behind a proxy) ran into, or None."""
    answered = call
    limit = _limit_of(call)
    if limit is None and call.peer in calls:
        answered = calls[call.peer]
        limit = _limit_of(answered)
    if limit is None:
        return None
    tx = answered.tx
    announced = call.tx.header("content-length") or tx.header("content-length")
    of = f" of {int(announced):,} announced" if announced and announced.isascii() and announced.isdigit() else ""
    via = f" (behind the proxy {call.tx.server})" if answered is not call else ""
    got = tx.request_body.size
    # Glance reads up to the cap before it refuses: the bytes it had by then bound the cap from above
    bound = f" (so image_size_cap is below {got:,} bytes)" if limit.code == "image-too-large" and got else ""
    what = unified_limits(answered.meaning.error_message) or limit.what
    msg = (f"upload of {label} refused: {what} — Glance answered {tx.status}{via} after receiving "
           f"{got:,} bytes{of}{bound}: “{answered.meaning.error_message}”")
    return Finding("error", limit.code, msg, image_id=image_id, call_id=answered.id, frames=frames_of(answered),
                   conn_id=tx.conn_id, capture=answered.capture, time=tx.response_first_time)


def create_limit_findings(calls: list, frames_of) -> list[Finding]:
    """Image creates refused by a limit (image_count_total): no image exists, so the finding is the call's."""
    out = []
    for call in calls:
        if call.kind != "create" or call.service != "glance" or (call.hop == "backend" and call.peer):
            continue
        limit = _limit_of(call)
        if limit is None:
            continue
        tx, m = call.tx, call.meaning
        what = unified_limits(m.error_message) or limit.what
        name = f" '{m.image_name}'" if m.image_name else ""
        msg = (f"create of image{name} refused: {what} — Glance answered {tx.status} after receiving "
               f"{tx.request_body.size:,} bytes, and no image was made: “{m.error_message}”")
        out.append(Finding("error", limit.code, msg, call_id=call.id, frames=frames_of(call), conn_id=tx.conn_id,
                           capture=call.capture, time=tx.response_first_time))
    return out
