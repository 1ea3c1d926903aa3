"""`report --format md`: a short text to paste into a ticket.

The capture in one line, the findings with their time and Wireshark filter, and each image's story.
It is read by people in a ticketing system that renders Markdown, so capture text is shown inside
code spans or escaped: a name like `**done**` or `<img src=…>` must stay text.
"""

from __future__ import annotations

import re
from typing import TextIO

from ..analysis.story import clock, stories
from .safe_text import visible

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


def md_text(s) -> str:
    """Capture text as plain Markdown text: control characters visible, markup characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", visible(str(s)))


def md_code(s) -> str:
    """Capture text inside a code span: a backtick run longer than any inside it fences it."""
    s = visible(str(s)).replace("\n", " ")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _header(doc: dict, out: list[str]) -> None:
    s = doc["summary"]
    names = ", ".join(md_code(c["path"].rsplit("/", 1)[-1]) for c in doc["captures"])
    span = ""
    if s.get("first_ts") is not None and s.get("last_ts") is not None:
        span = (f" from {clock(s['first_ts'], True)} to {clock(s['last_ts'], True)} UTC "
                f"({s['last_ts'] - s['first_ts']:,.1f} s)")
    finals: dict[str, int] = {}
    for im in doc["images"]:
        finals[im["final_status"] or "unknown"] = finals.get(im["final_status"] or "unknown", 0) + 1
    states = ", ".join(f"{n} {st}" for st, n in sorted(finals.items(), key=lambda kv: -kv[1])) or "none"
    out.append(f"# glancetrace: {names}")
    out.append("")
    out.append(f"{s['packets']:,} packets{span}; {s['calls']} API calls, {s['statements']:,} SQL statements; "
               f"{s['images']} image(s): {states}.")
    if s["gaps"]["count"]:
        out.append(f"The capture lost {s['gaps']['bytes']:,} bytes in {s['gaps']['count']} stream direction(s).")


def _findings(doc: dict, out: list[str]) -> None:
    t0 = doc["summary"].get("first_ts")
    out += ["", f"## Findings ({len(doc['findings'])})", ""]
    if not doc["findings"]:
        out.append("None.")
    for f in doc["findings"]:
        when = ""
        if f.get("time") is not None:
            when = f" {clock(f['time'])} UTC" + (f" (+{f['time'] - t0:,.1f} s)" if t0 is not None else "")
        out.append(f"- **{f['severity']}**{when}: {md_text(f['message'])}")
        if f.get("wireshark_filter"):
            out.append(f"  Wireshark: {md_code(f['wireshark_filter'])}")


def _images(doc: dict, out: list[str]) -> None:
    told = stories(doc)
    out += ["", f"## Images ({len(doc['images'])})"]
    for im in doc["images"]:
        name = md_text(im["name"]) if im.get("name") else "(no name)"
        out += ["", f"### {name}: {md_text(im['final_status'] or 'unknown')}", "",
                f"{md_code(im['id'])}: " + " ".join(md_text(s) for s in told[im["id"]])]


def write_markdown(doc: dict, out: TextIO) -> None:
    lines: list[str] = []
    _header(doc, lines)
    _findings(doc, lines)
    _images(doc, lines)
    out.write("\n".join(lines) + "\n")
