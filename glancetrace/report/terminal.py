"""Tables and the end-of-run summary for the terminal (rich)."""

from __future__ import annotations

import datetime as dt
import os

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def ms(sec: float | None) -> str:
    return "-" if sec is None else f"{sec * 1000:,.1f}"


def frames(fr) -> str:
    return "-" if not fr else (str(fr[0]) if fr[0] == fr[1] else f"{fr[0]}-{fr[1]}")


def in_file(r: dict) -> str:
    """Read from pieces: the piece a row's numbers are in, or each piece it spans (a line under it)."""
    ev = r.get("evidence") or []
    if len(ev) > 1:
        return "\n[dim]" + escape("spans " + ", ".join(f"{os.path.basename(e['file'])} {frames(e['frames'])}"
                                                      for e in ev)) + "[/]"
    return f"\n[dim]{escape(os.path.basename(r['file']))}[/]" if r.get("file") else ""


def _table(title: str, columns: list[tuple[str, str]]) -> Table:
    """A light table: numbers and times never wrap; the text columns take the rest, a "wide" one
    three times as much as a "wrap" one."""
    t = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD)
    for name, kind in columns:
        if kind in ("wrap", "wide"):
            t.add_column(name, overflow="fold", ratio=3 if kind == "wide" else 1)
        else:
            t.add_column(name, no_wrap=True, justify="right" if kind == "num" else "left")
    return t


def http_table(rows: list[dict], console: Console) -> None:
    t = _table(f"{len(rows)} HTTP transactions", [
        ("time (UTC)", "text"), ("tcp", "num"), ("request", "wide"), ("status", "text"), ("ms", "num"),
        ("frames", "text")])
    for r in rows:
        end = r["response_end"] or r["request_end"]
        lat = (end - r["request_time"]) if end and r["request_time"] else None
        # under the request: where it went, the body sizes and what was odd about it
        about = [r["server"], f"{r['request_body_size']:,} B up, {r['response_body_size']:,} B down"]
        about += [k for k in ("tls", "incomplete", "gap", "truncated") if r.get(k)]
        st = "-" if r["status"] is None else str(r["status"])
        style = "red" if r["status"] and r["status"] >= 500 else "yellow" if r["status"] and r["status"] >= 400 else None
        t.add_row(utc(r["request_time"] or r["response_time"]), str(r["conn_id"]),
                  escape(f"{r['method'] or '?'} {r['uri'] or '?'}") + f"\n[dim]{escape(', '.join(about))}[/]"
                  + in_file(r),
                  st, ms(lat), f"{frames(r['request_frames'])} → {frames(r['response_frames'])}", style=style)
    console.print(t)


def sql_table(rows: list[dict], console: Console, width: int = 100) -> None:
    t = _table(f"{len(rows)} SQL statements", [
        ("time (UTC)", "text"), ("tcp", "num"), ("statement", "wide"), ("result", "text"), ("ms", "num"),
        ("frames", "text")])
    for r in rows:
        sql = " ".join((r["sql"] or "").split())
        if len(sql) > width:
            sql = sql[: width - 1] + "…"
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
        t.add_row(utc(r["request_time"]), str(r["conn_id"]), escape(sql) + in_file(r), res, ms(r["latency"]),
                  f"{frames(r['request_frames'])} → {frames(r['response_frames'])}",
                  style="red" if r["result"] == "error" else None)
    console.print(t)


def digest_table(df, console: Console) -> None:
    t = Table(title=f"SQL digest: {len(df)} distinct statements", header_style="bold")
    cols = [c for c in df.columns]
    for c in cols:
        t.add_column(str(c), overflow="fold")
    for rec in df.itertuples(index=False):
        t.add_row(*[(f"{v:,.4f}" if isinstance(v, float) else str(v)) for v in rec])
    console.print(t)


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
        t.add_row(f"{im['id']}\n[dim]{size}, {escape(im['name'] or '-')}[/]",
                  im["final_status"] or "-", tr, str(len(im["findings"])), style="red" if any(
                      f["severity"] == "error" and f["image_id"] == im["id"] for f in doc["findings"]) else None)
    console.print(t)


def findings_list(doc: dict, console: Console, limit: int = 20) -> None:
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    # two columns, so a long message wraps under itself and the filter sits under its message
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True, min_width=7)
    grid.add_column()
    for f in doc["findings"][:limit]:
        text = escape(f["message"])
        if f.get("wireshark_filter"):
            # several files (hosts, pieces): say which one the numbers are in
            where = f"{f['file']}: " if f.get("file") and len(doc.get("captures") or ()) > 1 else ""
            text += f"\n[dim]{escape(where + f['wireshark_filter'])}[/]"
        grid.add_row(f"[{colour.get(f['severity'], 'white')}]{escape(f['severity'])}[/]", text)
    if len(doc["findings"]) > limit:
        grid.add_row("", f"… and {len(doc['findings']) - limit} more")
    console.print(grid)


def summary_paragraph(doc: dict, written: str | None) -> str:
    s = doc["summary"]
    finals: dict[str, int] = {}
    for im in doc["images"]:
        finals[im["final_status"] or "unknown"] = finals.get(im["final_status"] or "unknown", 0) + 1
    states = ", ".join(f"{n} {st}" for st, n in sorted(finals.items(), key=lambda kv: -kv[1])) or "none"
    sev = s["findings_by_severity"]
    text = (f"{s['packets']:,} packets, {s['calls']} API calls, {s['statements']:,} SQL statements; "
            f"{s['images']} image(s): {states}. Findings: {sev['error']} error(s), {sev['warning']} warning(s), "
            f"{sev['info']} info.")
    if s["gaps"]["count"]:
        text += f" The capture lost {s['gaps']['bytes']:,} bytes in {s['gaps']['count']} stream direction(s)."
    if written:
        text += f" Report written to {written}."
    return text
