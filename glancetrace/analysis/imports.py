"""Interoperable image import: each POST /v2/images/{id}/import, the task Glance ran for it, what Glance itself
fetched for a web-download, and why an import failed.

An import is asynchronous: the call answers 202 and a task (tables `tasks` and `task_info`, whose ids are
not image ids) does the work.  For web-download Glance downloads the URI itself: that outbound request, on
any port, is a call to the source's host:port for the URI's path made after the import call began, or, when
nobody listens there, a connection the source reset at once.  The failure is said where it was seen:
Glance's answer to the import call (a URI refused by [import_filtering_opts]), Glance's outbound response
or connection, the task's result written in SQL, and the image's os_glance_failed_import property.
The add-location API (POST /v2/images/{id}/locations with validation_data) is handled the same way: a
location_import task reads the URL through Glance's http store and compares the hash it computes with the one
given (glance/async_/flows/location_import.py _VerifyValidationData) — in Glance 33 the only check of fetched
data against a hash (web-download, glance-download and copy-image take no validation data).
Glance 33 opens the URI with urllib and no timeout: a source that never answers, or stops mid-body with its
connection open, leaves the import waiting — an import-stalled finding, not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .calls import Call
from .findings import Finding, human_bytes
from .story import clock

FAILED_PROP = "os_glance_failed_import"
IMPORTING_PROP = "os_glance_importing_to_stores"
FETCHING = ("web-download", "add-location")  # Glance itself reads the URI (add-location: through its http store)
QUIET_MIN = 5.0  # s of silence from the source before the capture's end that make a wait, not a cut-short capture


@dataclass
class Task:
    id: str
    image_id: str | None = None
    type: str | None = None
    status: str | None = None  # the last status written
    status_sql: str | None = None  # the statement that wrote it
    message: str | None = None
    result: Any = None
    message_sql: str | None = None


@dataclass
class Refused:
    """A connection to the source that the source reset without a byte exchanged."""

    capture: int
    conn_id: int
    frames: list[int]
    time: float


@dataclass
class ImportAttempt:
    call: Call  # POST /v2/images/{id}/import
    image_id: str
    method: str | None
    uri: str | None
    stores: list[str]
    task: Task | None = None
    fetches: list[Call] = field(default_factory=list)  # Glance's own requests for the URI
    refused: list[Refused] = field(default_factory=list)
    failed_stores: str | None = None  # os_glance_failed_import after the attempt
    failed_sql: str | None = None
    importing_stores: str | None = None  # os_glance_importing_to_stores, as last written in the attempt
    importing_sql: str | None = None
    running: list[Call] = field(default_factory=list)  # fetches unfinished, their connection open at the end
    waits: list[tuple[Call, str]] = field(default_factory=list)  # of those, the ones the source left hanging
    failure: str | None = None  # what went wrong, in words
    seen_in: list[str] = field(default_factory=list)  # where the failure shows
    shown_by: Call | None = None  # the first of Glance's requests to the source the failure shows in

    @property
    def stalled(self) -> bool:
        """Still waiting on its source when the capture ends (Glance's download has no timeout)."""
        return bool(self.waits) and (self.task is None or self.task.status not in ("success", "failure"))

    @property
    def source(self) -> str | None:
        host, port = source_of(self.uri)
        return f"{host}:{port}" if host else None


def source_of(uri: str | None) -> tuple[str | None, int | None]:
    if not uri:
        return None, None
    try:
        u = urlsplit(uri)
        return u.hostname, u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        return None, None


def collect_tasks(sql_rows: list) -> dict[str, Task]:
    """Tasks from Glance's INSERT/UPDATE of tasks and task_info (statements that took effect)."""
    tasks: dict[str, Task] = {}
    for row in sql_rows:
        m = row.meaning
        if m.kind != "glance" or m.table not in ("tasks", "task_info") or not m.meaning.task_id:
            continue
        if not m.meaning.is_write or m.ok is False:
            continue
        t = tasks.setdefault(m.meaning.task_id, Task(id=m.meaning.task_id))
        vals = m.meaning.values
        if m.table == "tasks":
            t.type = vals.get("type") or t.type
            if isinstance(vals.get("image_id"), str):
                t.image_id = vals["image_id"].lower()
            if isinstance(vals.get("status"), str):
                t.status, t.status_sql = vals["status"], row.id
        else:
            t.image_id = t.image_id or m.image_id
            if vals.get("message"):
                t.message, t.message_sql = str(vals["message"]), row.id
            if vals.get("result") is not None:
                t.result = vals["result"]
    return tasks


def image_properties(sql_rows: list, names: tuple[str, ...]) -> list[tuple[str, str, Any, str, float]]:
    """(image_id, name, value or None when removed, sql id, time) for writes of the named properties.

    Glance updates a property by its row id: the row's INSERT (its last_insert_id) says whose it is."""
    rows_of: dict[int, tuple[str, str]] = {}
    out = []
    for row in sql_rows:
        m = row.meaning
        if m.kind != "glance" or m.table != "image_properties" or not m.meaning.is_write or m.ok is False:
            continue
        if m.operation == "INSERT":
            iid, name = m.image_id, m.meaning.property_name
            if m.row_id is not None and iid and name:
                rows_of[m.row_id] = (iid, name)
        else:
            iid, name = rows_of.get(m.row_id, (m.image_id, m.meaning.property_name))
        if not iid or name not in names:
            continue
        removed = m.operation == "DELETE" or m.meaning.soft_delete
        value = None if removed else m.meaning.values.get("value")
        out.append((iid, name, value, row.id, row.stmt.request_time))
    return out


def _fetches(att: ImportAttempt, calls: list[Call], until: float) -> list[Call]:
    host, port = source_of(att.uri)
    if host is None:
        return []
    path = urlsplit(att.uri).path or "/"
    out = []
    for c in calls:
        if c.start is None or not (att.call.start <= c.start < until) or c.tx.method is None:
            continue
        s_host, _, s_port = c.tx.server.rpartition(":")
        uri_path = urlsplit(c.tx.uri or "").path or c.tx.uri
        if s_port == str(port) and uri_path == path and (s_host.strip("[]") == host or not host[0].isdigit()):
            out.append(c)
    return out


def _refused(att: ImportAttempt, result, until: float) -> list[Refused]:
    host, port = source_of(att.uri)
    out = []
    for conn, cap in zip(result.connections, result.conn_captures):
        if conn.server_port != port or not conn.rst or not (att.call.start <= conn.first_ts < until):
            continue
        if host[0].isdigit() and conn.server.rpartition(":")[0].strip("[]") != host:
            continue
        if conn.dirs[0].delivered or conn.dirs[1].delivered:
            continue
        out.append(Refused(cap, conn.stream, [conn.first_frame, conn.last_frame or conn.first_frame], conn.first_ts))
    return out


def find_imports(calls: list[Call], sql_rows: list, result) -> list[ImportAttempt]:
    imports = [c for c in calls if c.service == "glance" and c.image_id and not (c.hop == "backend" and c.peer)
               and (c.kind == "import" or c.kind == "locations" and c.meaning.import_method == "add-location")]
    tasks = collect_tasks(sql_rows)
    props = image_properties(sql_rows, (FAILED_PROP, IMPORTING_PROP))
    out = []
    for i, call in enumerate(imports):
        m = call.meaning
        att = ImportAttempt(call=call, image_id=call.image_id, method=m.import_method, uri=m.import_uri,
                            stores=list(m.stores))
        later = [c.start for c in imports[i + 1:] if c.image_id == call.image_id]
        until = min(later) if later else float("inf")
        att.task = next((t for t in tasks.values() if t.image_id == call.image_id and _task_time(t, sql_rows)
                         and att.call.start <= _task_time(t, sql_rows) < until), None)
        if m.import_method in FETCHING and m.import_uri:
            # the same URI imported again (for any image) takes Glance's requests from then on
            again = min([until, *(c.start for c in imports[i + 1:] if c.meaning.import_uri == m.import_uri)])
            att.fetches = _fetches(att, calls, again)
            att.refused = _refused(att, result, again)
            ends = open_at_end(att.fetches, result)
            att.running = [f for f in att.fetches if ends[f.id] is not None
                           and (f.tx.status is None or f.tx.incomplete or f.tx.truncated)]
            att.waits = [(f, w) for f in att.running if (w := hanging(f, ends[f.id]))]
        for iid, name, value, sql_id, t in props:
            if iid == call.image_id and att.call.start <= t < until:
                if name == FAILED_PROP:
                    att.failed_stores, att.failed_sql = value, sql_id
                else:
                    att.importing_stores, att.importing_sql = value, sql_id
        _explain(att)
        out.append(att)
    return out


def open_at_end(fetches: list[Call], result) -> dict[str, float | None]:
    """Per fetch: the capture's end when its connection was still open then (None when it had closed).  One
    walk over the connections for all of them (a flood's closed ones are packed: each read is an unpack)."""
    out: dict[str, float | None] = {f.id: None for f in fetches}
    wanted: dict[tuple[int, int], list[Call]] = {}
    for f in fetches:
        wanted.setdefault((f.tx.capture, f.tx.conn_id), []).append(f)
    for c, k in zip(result.connections, result.conn_captures) if wanted else ():
        for f in wanted.get((k, c.stream), ()):
            end = result.captures[k].last_ts if k < len(result.captures) else None
            if c.closed in ("", "end of capture", "idle"):
                out[f.id] = end
    return out


def hanging(fetch: Call, end: float) -> str | None:
    """What the source still owed Glance at the capture's end `end`, its connection still open: no answer at
    all, or the rest of a body, after QUIET_MIN s of silence (None: the capture merely ended during it)."""
    tx = fetch.tx
    if tx.status is None and tx.request_last_time is not None:
        if end - tx.request_last_time < QUIET_MIN:
            return None
        return (f"the source accepted Glance's connection and received its {tx.method} {tx.uri} but sent no "
                f"answer for {end - tx.request_last_time:.1f} s, until the capture's end")
    declared = tx.header("content-length", response=True)
    got = tx.response_body.size
    if (tx.status is not None and tx.status < 300 and (tx.incomplete or tx.truncated) and tx.response_last_time
            and end - tx.response_last_time >= QUIET_MIN):
        of = f" of {int(declared):,} announced" if declared and declared.isascii() and declared.isdigit() else ""
        return (f"the source's body stopped after {got:,} bytes{of}: nothing more for "
                f"{end - tx.response_last_time:.1f} s, until the capture's end")
    return None


def _task_time(task: Task, sql_rows: list) -> float | None:
    for row in sql_rows:
        if row.meaning.meaning.task_id == task.id:
            return row.stmt.request_time
    return None


def _explain(att: ImportAttempt) -> None:
    """The failure in words and where each piece of it was seen (nothing when the import worked)."""
    call, why, seen = att.call, [], []
    if call.tx.status is not None and call.tx.status >= 400:
        reason = call.meaning.error_message or call.tx.reason
        if "filtering" in (reason or ""):
            why.append("the URI's host or port is not allowed by Glance's [import_filtering_opts]")
        else:
            why.append(f"Glance refused the import call: {call.tx.status} {reason or ''}".rstrip())
        seen.append(f"Glance's answer to the import call ({call.id}): {call.tx.status} “{reason}”")
    for f in att.fetches:
        st = f.tx.status
        if att.stalled and any(f is w for w, _ in att.waits):
            att.shown_by = att.shown_by or f
            why.append(next(text for w, text in att.waits if w is f))
            seen.append(f"Glance's outbound {f.tx.method} {f.tx.uri} ({f.id}): its connection still open at the "
                        f"capture's end")
            continue
        if f in att.running:
            continue  # the capture ended during the download: nothing to say about it yet
        if st is None or st >= 400 or f.tx.incomplete or f.tx.truncated:
            att.shown_by = att.shown_by or f
        if st is None:
            why.append("the source did not answer (timeout or the connection ended)")
            seen.append(f"Glance's outbound {f.tx.method} {f.tx.uri} ({f.id}): no response")
        elif st >= 400:
            why.append(f"the source answered {st} {f.tx.reason or ''}".rstrip())
            seen.append(f"Glance's outbound {f.tx.method} {f.tx.uri} ({f.id}) → {st}")
        elif f.tx.incomplete or f.tx.truncated:
            why.append(f"the download from the source was cut off after {human_bytes(f.tx.response_body.size)}")
            seen.append(f"Glance's outbound {f.tx.method} {f.tx.uri} ({f.id}): cut off")
    mismatch = _hash_mismatch(att)
    if mismatch:
        why.append(mismatch[0])
        seen.append(mismatch[1])
        att.shown_by = att.shown_by or mismatch[2]
    for r in att.refused:
        why.append("connection refused (the source reset Glance's connection at once)")
        seen.append(f"Glance's outbound connection tcp.stream {r.conn_id} at {clock(r.time)}: reset")
    if att.stalled:
        _still_importing(att, seen)
    task = att.task
    task_failed = task is not None and task.status == "failure"
    if task_failed:
        msg = (task.message or "").strip()
        if any(w in msg.lower() for w in ("checksum", "hash", "does not match")):
            why.append("checksum mismatch")
        elif not why:
            why.append(f"the task failed: “{_short(msg)}”" if msg else "the task failed")
        seen.append(f"task {task.id}'s result written in SQL ({task.message_sql or task.status_sql}): "
                    f"failure" + (f" “{_short(msg)}”" if msg else ""))
    if att.failed_stores:
        seen.append(f"{FAILED_PROP}={att.failed_stores} ({att.failed_sql})")
        if not why:
            why.append(f"Glance marked the import failed for store(s) {att.failed_stores}")
    if why or seen:
        att.failure = "; ".join(dict.fromkeys(why)) or "the import failed"
        att.seen_in = seen


def _hash_mismatch(att: ImportAttempt) -> tuple[str, str, Call] | None:
    """(why, where, the fetch) when a whole body Glance fetched for an add-location does not have the validation_data's
    hash (Glance's task then fails with only "Internal Error": the capture itself shows the mismatch)."""
    given = att.call.meaning.validation_hash
    if given is None:
        return None
    algo, want = given
    for f in att.fetches:
        body = f.tx.response_body
        got = {"sha512": body.sha512, "sha256": body.sha256, "md5": body.md5}.get(algo)
        if f.tx.method != "GET" or f.tx.status != 200 or not got or f.tx.incomplete or f.tx.truncated or f.tx.gap:
            continue
        if got.lower() != want:
            return (f"checksum mismatch: the {human_bytes(body.size)} Glance read from the source have {algo} "
                    f"{got[:16]}…, the validation_data gave {want[:16]}…",
                    f"Glance's outbound GET {f.tx.uri} ({f.id}): {algo} of its body against the add-location "
                    f"call's validation_data ({att.call.id})", f)
    return None


def _still_importing(att: ImportAttempt, seen: list[str]) -> None:
    """Where a hanging import shows as still going: its task's last status, the store it is importing to."""
    t = att.task
    if t is not None:
        seen.append(f"task {t.id} still '{t.status}' at the capture's end ({t.status_sql})")
    if att.importing_stores:
        seen.append(f"{IMPORTING_PROP}={att.importing_stores} still set ({att.importing_sql})")


def _short(s: str, n: int = 200) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def import_findings(imports: list[ImportAttempt], labels: dict[str, str], frames_of) -> list[Finding]:
    out = []
    for att in imports:
        if not att.failure:
            continue
        src = f" from {att.source}" if att.source else ""
        what = f"import of {labels.get(att.image_id, att.image_id)} via {att.method or '?'}{src}"
        if att.stalled:  # glance/common/scripts/utils.py opens the URI with urllib and no timeout
            msg = (f"{what} is still importing at the capture's end: {att.failure} (Glance sets no timeout on "
                   f"the download: it waits as long as the source keeps the connection open). Seen in: ")
        else:
            msg = f"{what} failed: {att.failure}. Seen in: "
        msg += "; ".join(att.seen_in)
        fetch = att.shown_by or _cited_fetch(att.fetches)
        frames = frames_of(fetch) if fetch else (att.refused[0].frames if att.refused else frames_of(att.call))
        cite = fetch or att.call
        code = "import-stalled" if att.stalled else "import-failed"
        f = Finding("error", code, msg, image_id=att.image_id, call_id=cite.id, frames=frames,
                    conn_id=att.refused[0].conn_id if att.refused and not att.fetches else cite.tx.conn_id,
                    capture=att.refused[0].capture if att.refused and not att.fetches else cite.capture)
        out.append(f)
    return out


def _cited_fetch(fetches: list[Call]) -> Call | None:
    """The fetch a failure shown elsewhere (the task's result) is cited by: the first that asked for the body,
    not the http store's HEADs before its GET (an add-location's size checks: no body by definition)."""
    return next((f for f in fetches if f.tx.method != "HEAD"), fetches[0] if fetches else None)


def attempt_dict(att: ImportAttempt) -> dict:
    """An import attempt for the document (the image's `imports`)."""
    t = att.task
    return {"call_id": att.call.id, "method": att.method, "uri": att.uri, "source": att.source,
            "stores": list(att.stores), "status": att.call.tx.status, "time": att.call.start,
            "task": ({"id": t.id, "type": t.type, "status": t.status, "message": t.message,
                      "sql_id": t.message_sql or t.status_sql} if t else None),
            "fetches": [{"call_id": f.id, "method": f.tx.method, "status": f.tx.status,
                         "bytes": f.tx.response_body.size, "declared": f.tx.header("content-length", response=True),
                         "start": f.start, "end": f.end} for f in att.fetches],
            "refused": [{"conn_id": r.conn_id, "frames": r.frames, "time": r.time} for r in att.refused],
            "failed_stores": att.failed_stores, "failure": att.failure, "stalled": att.stalled,
            "seen_in": list(att.seen_in),
            "failed_at": failed_at(att)}


def failed_at(att: ImportAttempt) -> float | None:
    """When the failure shows: the end of the last fetch or refused connection, else the import call's answer."""
    if not att.failure:
        return None
    times = [f.end for f in att.fetches if f.end is not None] + [r.time for r in att.refused]
    return max(times) if times else (att.call.end or att.call.start)
