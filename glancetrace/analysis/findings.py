"""Findings: what a support engineer should look at, most severe first, with evidence frames."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    severity: str  # error | warning | info
    code: str
    message: str
    image_id: str | None = None
    call_id: str | None = None
    sql_id: str | None = None
    frames: list[int] = field(default_factory=list)
    conn_id: int | None = None
    capture: int = 0
    time: float | None = None  # when the capture shows it (UTC epoch seconds)
    cause: str | None = None  # who ended a failed upload (analysis/upload_end.py): client_closed, client_reset, …
    id: str = ""


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def http_status_finding(call, frames: list[int]) -> Finding | None:
    """4xx/5xx responses; the name lookup 404 that `openstack image create` makes first is normal."""
    st = call.tx.status
    if st is None or st < 400:
        return None
    what = f"{call.tx.method} {call.tx.uri}"
    if st == 404 and call.kind == "lookup":
        return None
    if st == 401:
        sev, why = "warning", "the token was missing, expired or invalid (Keystone said 401)"
    elif st == 403:
        sev, why = "warning", "forbidden (policy or a protected image)"
    elif st == 404:
        sev, why = "info", "not found"
    elif st == 409:
        sev, why = "error", "conflict: the image was not in the state the call needs (another request changed it)"
    elif st == 413:
        sev, why = "error", "request too large (image size over Glance's image_size_cap or the user's quota)"
    elif st >= 500:
        sev, why = "error", "the service failed"
    else:
        sev, why = "warning", "the request was refused"
    reason = getattr(call.meaning, "error_message", None)
    msg = f"{what} → {st} {call.tx.reason}: {why}" + (f" — “{reason}”" if reason else "")
    return Finding(sev, f"http-{st}", msg, image_id=call.image_id, call_id=call.id,
                   frames=frames, conn_id=call.tx.conn_id, capture=call.capture)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    # severity, then time, the same order in every output (JSON, HTML, terminal, md)
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.time if f.time is not None else float("inf"),
                                 f.frames[0] if f.frames else 0))
    for i, f in enumerate(findings):
        f.id = f"f{i + 1}"
    return findings
