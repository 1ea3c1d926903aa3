"""Evidence to jump to in Wireshark: an event's frames and the display filter that selects them."""

from __future__ import annotations


def event_frames(ev) -> list[int]:
    """First and last frames of an HTTP transaction's or SQL statement's request and response."""
    return [f for fr in (ev.request_frames, ev.response_frames) if fr for f in fr]


def filter_for(conn_id: int | None, frames: list[int]) -> str:
    fs = [f for f in frames if f]
    parts = []
    if conn_id is not None:
        parts.append(f"tcp.stream eq {conn_id}")
    if fs:
        lo, hi = min(fs), max(fs)
        parts.append(f"frame.number == {lo}" if lo == hi else f"frame.number >= {lo} && frame.number <= {hi}")
    return " && ".join(parts)
