"""Each image's story in a sentence or two, for the top of its card, the page and `--format md`.

Built from the analysis document (already redacted), so every renderer tells the same story:
created when and by whom, each upload with its bytes and how it ended, the state changes other
calls made, failed calls, and the state the image was left in at the end of the capture.
"""

from __future__ import annotations

import datetime as dt

from ..openstack.image_status import IN_PROGRESS
from .findings import human_bytes
_ASKED = ("delete", "deactivate", "reactivate", "update", "import", "stage")


def clock(ts: float | None, with_date: bool = False) -> str:
    """UTC wall-clock time to the millisecond (with the date: to the second): what a support engineer
    matches against logs. "?" for a time no calendar holds (a damaged pcapng timestamp)."""
    if ts is None:
        return "?"
    try:
        d = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "?"
    return d.strftime("%Y-%m-%d %H:%M:%S") if with_date else d.strftime("%H:%M:%S.") + f"{d.microsecond // 1000:03d}"


def _host(endpoint: str | None) -> str:
    if not endpoint:
        return "?"
    host = endpoint.rsplit(":", 1)[0]
    return host.strip("[]")


def _upload(call: dict, ends: list[dict]) -> str:
    got = call.get("request_body_size")
    words = f"upload of {human_bytes(got)} from {_host(call.get('client'))} at {clock(call.get('request_time'))}"
    notes = " ".join(call.get("notes") or [])
    if call.get("incomplete") and ("rst" in notes or "fin" in notes):
        words += " was cut off " + _cut_off(call, ends, "rst" in notes)
    elif call.get("gap"):
        words += " lost bytes in the capture"
    return words + _answer(call)


def _cut_off(call: dict, ends: list[dict], reset: bool) -> str:
    """Who ended an upload's connection and when: its first FIN or RST after the request began (the
    connection's `ends` in the document's tcp_stalls). Without one, only when the body stopped: the time
    of its last byte is not the time of the close, nor a reset that came after Glance answered the cause."""
    start = call.get("request_time") or 0.0
    after = [e for e in ends if isinstance(e.get("time"), (int, float)) and e["time"] >= start]
    if not after:
        how = "reset" if reset else "FIN"
        return f"(its body stopped at {clock(call.get('request_end'))}, the connection ended by a {how})"
    end = min(after, key=lambda e: e["time"])
    who = "the client" if end.get("sender") == "client" else "the proxy" if call.get("hop") == "frontend" else "Glance"
    return f"({who} {'reset' if end.get('kind') == 'rst' else 'closed'} the connection at {clock(end['time'])})"


def _fetch(call: dict) -> str:
    """Glance's own download of a web-download URI: the source answered, not Glance."""
    status = call.get("status")
    got = f", {human_bytes(call.get('response_body_size'))}" if status is not None and status < 300 else ""
    answer = f"{status}{got}" if status is not None else "no response"
    return f"Glance fetched {call.get('uri')} from {call.get('server')} at {clock(call.get('request_time'))} ({answer})"


def _size_check(call: dict, times: list[float]) -> str:
    """Glance's HEADs of a source (the http store checks the size before reading): no body by definition
    (RFC 9110 9.3.2), so never "0 bytes"; the size is the answer's Content-Length. Repeats told once."""
    status = call.get("status")
    answer = "no response" if status is None else str(status)
    length = _content_length(call) if status is not None and status < 300 else None
    if length is not None:
        answer += f", Content-Length {length:,}"
    when = f"at {clock(times[0])}" if len(times) == 1 else f"{len(times)} times, {clock(times[0])}–{clock(times[-1])}"
    return f"Glance checked {call.get('uri')} on {call.get('server')} {when} (HEAD: size check, {answer})"


def _content_length(call: dict) -> int | None:
    for name, value in call.get("response_headers") or []:
        if str(name).lower() == "content-length":
            value = str(value).strip()
            return int(value) if value.isascii() and value.isdigit() else None
    return None


def _is_head(call: dict) -> bool:
    return str(call.get("method") or "").upper() == "HEAD"


def _answer(call: dict) -> str:
    status = call.get("status")
    if status is None:
        return "; no response was seen"
    if status >= 400:
        return f"; Glance answered {status} {call.get('reason') or ''}".rstrip()
    return f" ({status})"


def _transition_words(tr: dict) -> str:
    prev = tr.get("previous")
    if tr.get("attempt"):
        return f"the change to {tr['status']} at {clock(tr['time'])} never committed ({tr['attempt']})"
    if tr.get("failed"):
        return f"a change to {tr['status']} failed at {clock(tr['time'])}"
    if prev in ("saving", "importing") and tr["status"] == "queued":
        return f"put back to queued at {clock(tr['time'])}"
    return f"{tr['status']} at {clock(tr['time'])}"


def image_story(image: dict, calls: dict[str, dict], capture_end: float | None,
                ends: dict[tuple, list[dict]] | None = None) -> list[str]:
    """One or two sentences: the events of the image in time order, then how it ended. `ends`: each
    connection's FINs and RSTs by (capture, conn_id), from connection_ends."""
    events: list[tuple[float, str]] = []
    checks: list[dict] = []  # HEADs of an import source, told apart from downloads
    for cid in image.get("calls") or []:
        call = calls.get(cid)
        if call is None or call.get("request_time") is None:
            continue
        kind = call.get("kind") or ""
        if kind == "create":
            words = f"created at {clock(call['request_time'])} by {_host(call.get('client'))}"
            if (call.get("status") or 0) >= 400:
                words = f"create at {clock(call['request_time'])}" + _answer(call)
        elif kind == "upload":
            words = _upload(call, (ends or {}).get((call.get("capture"), call.get("conn_id")), []))
        elif (call.get("on_behalf_of") or {}).get("role") == "web_download":
            if _is_head(call):
                checks.append(call)
                continue
            words = _fetch(call)
        elif kind in _ASKED:
            words = f"{kind} asked at {clock(call['request_time'])}" + _answer(call)
        elif (call.get("status") or 0) >= 400:
            words = f"{call.get('method')} {kind or 'call'} at {clock(call['request_time'])}" + _answer(call)
        else:
            continue  # shows and lists: on the timeline, not in the story
        events.append((call["request_time"], words))
    for tr in image.get("transitions") or []:
        if tr.get("status") in ("queued", "active", "deleted", "deactivated", "killed") or tr.get("failed"):
            if tr.get("status") == "queued" and tr.get("previous") is None and not tr.get("attempt"):
                continue  # the create says it
            events.append((tr["time"], _transition_words(tr)))
    for att in image.get("imports") or []:
        if att.get("failure") and att.get("failed_at") is not None:
            done = "is still waiting on its source" if att.get("stalled") else "failed"
            events.append((att["failed_at"], f"the {att.get('method') or '?'} import {done}: {att['failure']}"))
    events += _size_checks(checks, [t for t, _ in events])
    events.sort(key=lambda e: e[0])
    first = "; ".join(w for _, w in events) or "no call about this image was seen"
    return [_capitalise(first) + ".", _ending(image, capture_end)]


def _size_checks(heads: list[dict], others: list[float]) -> list[tuple[float, str]]:
    """One clause per run of alike HEADs (same URI, source and answer) with no other event of the story
    (at times `others`) between them."""
    runs: list[tuple[tuple, dict, list[float]]] = []
    for call in sorted(heads, key=lambda c: c["request_time"]):
        key, t = (call.get("uri"), call.get("server"), call.get("status"), _content_length(call)), call["request_time"]
        if runs and runs[-1][0] == key and not any(runs[-1][2][-1] < o < t for o in others):
            runs[-1][2].append(t)
        else:
            runs.append((key, call, [call["request_time"]]))
    return [(times[0], _size_check(call, times)) for _, call, times in runs]


def _still(status: str, since: float | None, capture_end: float | None) -> str:
    idle = ""
    if capture_end and since:  # (under half a second would read "0 s later")
        idle = ", under a second later" if capture_end - since < 0.5 else f", {capture_end - since:,.0f} s later"
    return f"still {status} at the end of the capture{idle}"


def final_state(image: dict, capture_end: float | None) -> dict:
    """The state the image was left in, worded for the end of its timeline: "still queued at the end
    of the capture, 56 s later" (a state it should not be left in), "active since 12:00:09.120"."""
    status = image.get("final_status") or "unknown"
    states = image.get("states") or []
    since = states[-1]["start"] if states else None
    stuck = status in IN_PROGRESS
    if stuck:
        label = _still(status, since, capture_end)
    elif since is not None:
        label = f"{status} since {clock(since)}"
    else:  # only calls naming it (a 404 on a made-up id): no status was ever seen
        label = "no status seen in the capture" if status == "unknown" else status
    return {"status": status, "since": since, "until": capture_end, "stuck": stuck, "label": label}


def _ending(image: dict, capture_end: float | None) -> str:
    status = image.get("final_status") or "unknown"
    if status == "unknown" and any(t.get("attempt") for t in image.get("transitions") or []):
        return "Never existed: none of its changes committed."
    states = image.get("states") or []
    since = states[-1]["start"] if states else None
    if status in IN_PROGRESS:  # should not be left there: say for how long
        return _capitalise(_still(status, since, capture_end)) + "."
    size = image.get("size")
    tail = f" with {human_bytes(size)}" if status == "active" and size is not None else ""
    return f"Ended {status}{tail}."


def _capitalise(s: str) -> str:
    return s[:1].upper() + s[1:]


def connection_ends(tcp_stalls: list[dict]) -> dict[tuple, list[dict]]:
    """(capture, conn_id) → the connection's first FINs and RSTs, from the document's tcp_stalls (only
    connections with a stall, a retransmission or a RST are listed there)."""
    return {(t.get("capture"), t.get("conn_id")): list(t.get("ends") or []) for t in tcp_stalls}


def stories(doc: dict) -> dict[str, list[str]]:
    """image id → its story, for every image of the analysis document."""
    calls = {c["id"]: c for c in doc.get("calls") or []}
    end = (doc.get("summary") or {}).get("last_ts")
    ends = connection_ends(doc.get("tcp_stalls") or [])
    return {img["id"]: image_story(img, calls, end, ends) for img in doc.get("images") or []}
