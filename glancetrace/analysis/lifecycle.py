"""Each image's life: ordered status transitions, time in each state, the calls that touched it.

The database is the authority: a status counts when the statement that
wrote it succeeded and its transaction committed (a compare-and-swap that
matched 0 rows, or a write rolled back or lost with its connection, is
recorded as a failed transition and changes nothing).  Where no SQL about an image was
captured, the statuses Glance reported in API responses stand in for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Transition:
    status: str
    time: float
    source: str  # "sql" | "api"
    sql_id: str | None = None
    call_id: str | None = None
    frames: list[int] = field(default_factory=list)
    failed: bool = False
    previous: str | None = None  # the status it changed from (the CAS precondition where there is one)
    uncertain: bool = False  # statement without a response: took effect or not, unknown
    attempt: str | None = None  # never committed: "rolled back", "connection lost", "commit failed" (transactions.py)


@dataclass
class Image:
    id: str
    name: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # size, checksum, os_hash_*, formats …
    transitions: list[Transition] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def effective(self) -> list[Transition]:
        return [t for t in self.transitions if not t.failed]

    @property
    def final_status(self) -> str | None:
        eff = self.effective
        return eff[-1].status if eff else None

    def states(self, capture_end: float | None) -> list[dict]:
        """Bands for the timeline: each status from when it was set until the next one."""
        eff = [t for t in self.effective]
        out = []
        for i, t in enumerate(eff):
            end = eff[i + 1].time if i + 1 < len(eff) else None
            stop = end if end is not None else capture_end
            out.append({"status": t.status, "start": t.time, "end": end,
                        "seconds": (stop - t.time) if stop is not None else None})
        return out


def order_transitions(img: Image) -> None:
    """Sort by time; drop API observations that only repeat what SQL already said."""
    img.transitions.sort(key=lambda t: (t.time, t.source != "sql"))
    if any(t.source == "sql" for t in img.transitions):
        img.transitions = [t for t in img.transitions if t.source == "sql"]
    # repeated writes of the same status (e.g. an UPDATE of other columns with status='active')
    cleaned: list[Transition] = []
    current = None
    for t in img.transitions:
        if not t.failed and t.status == current:
            continue
        if not t.failed:
            t.previous = t.previous or current
            current = t.status
        cleaned.append(t)
    img.transitions = cleaned
