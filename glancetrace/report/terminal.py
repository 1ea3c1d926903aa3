"""Tables and the end-of-run summary for the terminal (rich).

Cells are rich `Text` made of capture text passed through safe_text.visible: never markup, so
`[/x]` or `[link=…]` in an image name is printed as it is, and no control character reaches the terminal.
"""

from __future__ import annotations

import datetime as dt
import os

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .listing import Listing
from .safe_text import visible


def utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    except (OverflowError, OSError, ValueError):  # a damaged pcapng timestamp: year 586524
        return "?"


def ms(sec: float | None) -> str:
    return "-" if sec is None else f"{sec * 1000:,.1f}"


def frames(fr) -> str:
    return "-" if not fr else (str(fr[0]) if fr[0] == fr[1] else f"{fr[0]}-{fr[1]}")


def _text(main, dim=None, style: str | None = None) -> Text:
    """A cell: capture text made visible, optionally a dimmed line under it."""
    t = Text(visible(main), style=style or "")
    if dim is not None:
        t.append("\n")
        t.append(visible(dim), style="dim")
    return t


def in_file(r: dict) -> str:
    """Read from pieces: the piece a row's numbers are in, or each piece it spans."""
    ev = r.get("evidence") or []
    if len(ev) > 1:
        return "spans " + ", ".join(f"{os.path.basename(e['file'])} {frames(e['frames'])}" for e in ev)
    return os.path.basename(r["file"]) if r.get("file") else ""
    return t


def _shortened(text: str | None, width: int) -> str:
    """On one line (whitespace folded), cut to `width` characters: the whole text is in JSON and CSV."""
    s = " ".join((text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def http_table(rows: list[dict], console: Console) -> None:
    t = Listing(f"{len(rows)} HTTP transactions", [
        ("time (UTC)", "text"), ("tcp", "num"), ("request", "fold"), ("status", "text"), ("ms", "num"),
        ("frames", "text")])
    for r in rows:
        end = r["response_end"] or r["request_end"]
        lat = (end - r["request_time"]) if end and r["request_time"] else None
        # under the request: where it went, the body sizes and what was odd about it
        about = [r["server"], f"{r['request_body_size']:,} B up, {r['response_body_size']:,} B down"]
        about += [k for k in ("tls", "incomplete", "gap", "truncated") if r.get(k)]
        if r.get("seen_in") in ("log", "both"):  # --log: haproxy's line stands for (or agrees with) the packets
            about.append(f"seen in {'the log only' if r['seen_in'] == 'log' else 'packets and log'}")
        st = "-" if r["status"] is None else str(r["status"])
        style = "red" if r["status"] and r["status"] >= 500 else "yellow" if r["status"] and r["status"] >= 400 else None
        where = in_file(r)
        request = (visible(f"{r['method'] or '?'} {r['uri'] or '?'}"),
                   visible("; ".join(filter(None, [", ".join(map(str, about)), where]))))
        t.add([utc(r["request_time"] or r["response_time"]), str(r["conn_id"]), request, st, ms(lat),
               f"{frames(r['request_frames'])} → {frames(r['response_frames'])}"], style)
    t.print(console)


def sql_table(rows: list[dict], console: Console, width: int = 100) -> None:
    t = Listing(f"{len(rows)} SQL statements", [
        ("time (UTC)", "text"), ("tcp", "num"), ("statement", "fold"), ("result", "text"), ("ms", "num"),
        ("frames", "text")])
    for r in rows:
        sql = _shortened(r["sql"], width)
        if r["command"] != "COM_QUERY":  # the command says what a statement without SQL text did
            sql = f"{r['command']} {sql}".rstrip()
        if r["result"] == "error":
            res = f"ERR {r['error_code']}"
        elif r["result"] == "rows":
            res = f"{r['rows']} rows"
        elif r["result"] == "ok":
            res = f"ok {r['affected_rows']}"
        else:
            res = "no response"
        back = r.get("back")  # relayed by a proxy (database VIP): front⇄back connection, latency the proxy added
        where = in_file(r)
        t.add([utc(r["request_time"]), f"{r['conn_id']}⇄{back['conn_id']}" if back else str(r["conn_id"]),
               (visible(sql), visible(where)) if where else visible(sql), res,
               ms(r["latency"]) + (f"+{ms(r['proxy_latency'])}" if back else ""),
               f"{frames(r['request_frames'])} → {frames(r['response_frames'])}"],
              "red" if r["result"] == "error" else None)
    t.print(console)


def digest_table(rows: list[dict], console: Console, width: int = 100) -> None:
    """What a person reads first: the statement, how often, how long (ms), how many failed. The rest
    (max, rows, first time, a sample) is in --format json/csv."""
    t = Listing(f"SQL digest: {len(rows)} distinct statements, slowest total first", [
        ("statement", "fold"), ("count", "num"), ("total ms", "num"), ("mean ms", "num"), ("p95 ms", "num"),
        ("errors", "num")])
    for r in rows:
        t.add([visible(_shortened(r["fingerprint"], width)), f"{r['count']:,}", ms(r["total_latency"]),
               ms(r["mean_latency"]), ms(r["p95_latency"]), str(r["errors"])], "red" if r["errors"] else None)
    t.print(console)


def images_table(doc: dict, console: Console) -> None:
    t = Table(title=f"{len(doc['images'])} images", header_style="bold", box=box.SIMPLE_HEAD)
    # the id whole on its line (to paste into a search or a filter), name and size under it
    t.add_column("image", no_wrap=True, overflow="ellipsis", width=36)
    t.add_column("final", no_wrap=True)
    t.add_column("transitions", overflow="fold")
    t.add_column("findings", justify="right")
    for im in doc["images"]:
        tr = " → ".join(("✗" if x["failed"] else "") + x["status"] for x in im["transitions"])
        size = "size unknown" if im["size"] is None else f"{int(im['size']):,} bytes"
        t.add_row(_text(im["id"], f"{size}, {im['name'] or '-'}"),
                  _text(im["final_status"] or "-"), _text(tr), str(len(im["findings"])), style="red" if any(
                      f["severity"] == "error" and f["image_id"] == im["id"] for f in doc["findings"]) else None)
    console.print(t)


def findings_list(doc: dict, console: Console, limit: int = 20) -> None:
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    # two columns, so a long message wraps under itself and the filter sits under its message
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True, min_width=7)
    grid.add_column()
    for f in doc["findings"][:limit]:
        # the time (UTC) under the severity: what to match against the service logs; with several
        # files (hosts, pieces) the filter says which one its numbers are in
        where = f"{f['file']}: " if f.get("file") and len(doc.get("captures") or ()) > 1 else ""
        grid.add_row(_text(f["severity"], utc(f["time"]) if f.get("time") is not None else None,
                           style=colour.get(f["severity"], "white")),
                     _text(f["message"], (where + f["wireshark_filter"]) if f.get("wireshark_filter") else None))
    if len(doc["findings"]) > limit:
        grid.add_row("", Text(f"… and {len(doc['findings']) - limit} more"))
    console.print(grid)


def summary_paragraph(doc: dict, written: str | None) -> Text:
    s = doc["summary"]
    finals: dict[str, int] = {}
    for im in doc["images"]:
        finals[im["final_status"] or "unknown"] = finals.get(im["final_status"] or "unknown", 0) + 1
    states = ", ".join(f"{n} {st}" for st, n in sorted(finals.items(), key=lambda kv: -kv[1])) or "none"
    sev = s["findings_by_severity"]
    text = (f"{s['packets']:,} packets, {s['calls']} API calls, {s['statements']:,} SQL statements; "
            f"{s['images']} image(s): {states}. Findings: {sev['error']} error(s), {sev['warning']} warning(s), "
            f"{sev['info']} info.")
    for hc in s.get("mysql_health_checks") or ():
        every = f" every {hc['interval']:.1f} s" if hc["interval"] else ""
        text += f" {hc['count']} MySQL health checks by the proxy {hc['proxy']} on {hc['server']}{every} (not listed)."
    if s["gaps"]["count"]:
        text += f" The capture lost {s['gaps']['bytes']:,} bytes in {s['gaps']['count']} stream direction(s)."
    if written:
        text += " Report written to standard output." if written == "-" else f" Report written to {written}."
    return Text(visible(text))
