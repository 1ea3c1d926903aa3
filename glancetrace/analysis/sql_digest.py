"""Statement fingerprints and a per-fingerprint digest of SqlStatement events (like pt-query-digest).

A fingerprint is the statement with its literals replaced by `?`, IN (…) and
VALUES (…), (…) lists collapsed, comments dropped, whitespace folded and
letters lower-cased, so the same query with other values groups together.
Regular expressions rather than a SQL parser: captured SQL is often cut or
not quite valid, and this runs once per statement of a big capture.
"""

from __future__ import annotations

import re

import pandas as pd

from ..openstack.redact_output import redact_output

_COMMENTS = re.compile(r"/\*(?!!).*?\*/|(?:--\s|#)[^\n]*", re.S)
_STRINGS = re.compile(r"""'[^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+'|"[^"\\]*+(?:(?:\\.|"")[^"\\]*+)*+\"""", re.S)
_TYPED_LITERAL = re.compile(r"\b(?:date|time|timestamp)\s*\?", re.I)
_NUMBERS = re.compile(r"(?<![\w.`])(?:0x[0-9a-f]+|[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w`])", re.I)
_NULL = re.compile(r"\bnull\b", re.I)
_SPACES = re.compile(r"\s+")
_IN_LIST = re.compile(r"\b(in|values?)\s*\(\s*\?(?:\s*,\s*\?)*+\s*\)", re.I)
_VALUES_ROWS = re.compile(r"(values?\s*\(\s*\?(?:\s*,\s*\?)*+\s*\))(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*+\s*\))++", re.I)


LEAN_FROM = 1 << 16  # statements longer than this are rewritten piece by piece (bounded memory)
_JOIN_EVERY = 4096  # replacements between joins of the pieces


def _sub(pattern: re.Pattern, repl, s: str) -> str:
    """pattern.sub(repl, s) in memory linear in the text and small: re.sub keeps two objects
    per match until the end (a 16 MB INSERT of a million rows: ~150 MB), this joins as it goes."""
    if len(s) < LEAN_FROM:
        return pattern.sub(repl, s)
    done, parts, pos = [], [], 0
    for m in pattern.finditer(s):
        parts.append(s[pos:m.start()])
        parts.append(repl if isinstance(repl, str) else repl(m))
        pos = m.end()
        if len(parts) > _JOIN_EVERY:
            done.append("".join(parts))
            parts.clear()
    parts.append(s[pos:])
    done.append("".join(parts))
    return "".join(done)


def fingerprint(sql: str | None) -> str:
    """`SELECT * FROM t WHERE id IN (1, 2, 3) AND n = 'x'` → `select * from t where id in(?+) and n = ?`.

    Linear in time and memory: possessive repeats keep the regular expression engine from
    saving a backtracking point per character of a long literal or list."""
    if not sql:
        return ""
    s = _sub(_COMMENTS, " ", sql)
    s = _sub(_STRINGS, "?", s)
    s = _sub(_NUMBERS, "?", s)
    s = _sub(_NULL, "?", s)
    s = _sub(_TYPED_LITERAL, "?", s)
    s = _sub(_SPACES, " ", s).strip().lower()
    s = s.rstrip(";").rstrip()
    s = _sub(_VALUES_ROWS, lambda m: m.group(1), s)
    s = _sub(_IN_LIST, lambda m: m.group(1).lower() + "(?+)", s)
    return s


def statement_label(ev) -> str:
    """What a statement is called in a digest: its SQL, or the command for admin commands."""
    if ev.command in ("COM_QUERY",):
        return ev.sql or ""
    if ev.command == "COM_STMT_PREPARE":
        return f"PREPARE {ev.sql or ''}"
    if ev.command == "COM_STMT_EXECUTE":
        return f"EXECUTE {ev.sql or ''}"
    if ev.command == "COM_STMT_CLOSE":
        return f"DEALLOCATE PREPARE {ev.statement_id}"
    if ev.command == "COM_INIT_DB":
        return f"USE {ev.sql or ''}"
    name = ev.command.removeprefix("COM_").replace("_", " ").title()
    return f"administrator command: {name}"


def digest(statements, by: str = "fingerprint", show_secrets: bool = False) -> pd.DataFrame:
    """One row per fingerprint: count, total/mean/p95 latency (s), errors, rows, affected rows, a sample.

    Sorted by total latency, largest first (where time went).  The samples, and the fingerprints (a literal
    cut off by the end of a truncated statement is not replaced by `?`), are redacted unless show_secrets.
    """
    recs = []
    for ev in statements:
        label = statement_label(ev)
        recs.append({
            "fingerprint": fingerprint(label),
            "command": ev.command,
            "sample": label,
            "latency": ev.latency,
            "error": ev.result == "error",
            "rows": ev.rows or 0,
            "affected_rows": ev.affected_rows or 0,
            "incomplete": bool(ev.incomplete),
            "first_time": ev.request_time,
        })
    cols = ["count", "total_latency", "mean_latency", "p95_latency", "max_latency", "errors", "rows",
            "affected_rows", "incomplete", "first_time", "sample", "command"]
    if not recs:
        return pd.DataFrame(columns=cols).rename_axis(by)
    df = pd.DataFrame.from_records(recs)
    g = df.groupby(by, sort=False)
    out = pd.DataFrame({
        "count": g.size(),
        "total_latency": g["latency"].sum(min_count=1),
        "mean_latency": g["latency"].mean(),
        "p95_latency": g["latency"].quantile(0.95),
        "max_latency": g["latency"].max(),
        "errors": g["error"].sum().astype(int),
        "rows": g["rows"].sum(),
        "affected_rows": g["affected_rows"].sum(),
        "incomplete": g["incomplete"].sum().astype(int),
        "first_time": g["first_time"].min(),
        "sample": g["sample"].last(),
        "command": g["command"].first(),
    })
    if not show_secrets:
        out["sample"] = redact_output(out["sample"].tolist())
        out.index = pd.Index(redact_output(out.index.tolist()), name=by)
    return out.sort_values(["total_latency", "count"], ascending=False, na_position="last")
