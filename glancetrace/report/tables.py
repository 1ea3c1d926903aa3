"""Flat rows of HTTP transactions and SQL statements, for JSON, CSV and terminal tables.

The schemas are documented in README.md ("Output schemas"); secrets are redacted unless asked not to be.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Iterable

from ..analysis.event_fields import http_fields, sql_fields
from ..analysis.mysql_hops_report import statement_fields
from ..openstack.redact_output import redact_output
from ..protocols.http.events import HttpTransaction
from ..protocols.mysql.events import SqlStatement
from .safe_text import csv_cell, json_ready


# absent text is null in the rows (README, "Output schemas")
_NULL_WHEN_EMPTY = ("reason", "request_content_type", "response_content_type", "response_content_encoding")


def http_rows(txs: Iterable[HttpTransaction], show_secrets: bool = False) -> list[dict]:
    rows = []
    for t in sorted(txs, key=lambda t: (t.capture, t.request_first_time or t.response_first_time or 0)):
        row = http_fields(t)
        for k in _NULL_WHEN_EMPTY:
            row[k] = row[k] or None
        rows.append(row)
    return redact_output(rows, show_secrets)  # the one redaction step every output goes through


def sql_rows(stmts: Iterable[SqlStatement], show_secrets: bool = False, hops=None) -> list[dict]:
    rows = []
    for s in sorted(stmts, key=lambda s: (s.capture, s.request_time)):
        row = sql_fields(s)
        if hops is not None:  # MySQL relayed by a proxy: the back hop beside the front one
            row.update(statement_fields(hops, row["capture"], s))
        rows.append(row)
    return redact_output(rows, show_secrets)  # the one redaction step every output goes through


def digest_rows(stmts: Iterable[SqlStatement], show_secrets: bool = False) -> list[dict]:
    """`sql --digest`: one row per normalised statement, plain numbers (no NaN: an unanswered statement's
    latency is null); samples redacted by the digest itself."""
    from ..analysis.sql_digest import digest
    return json_ready(digest(stmts, show_secrets=show_secrets).reset_index().to_dict("records"))


def write_json(obj, out=None) -> None:
    """Indented JSON; NaN and inf (not JSON) become null. Non-ASCII is escaped, so no control character
    reaches a terminal. Made whole before writing: a failure leaves nothing half-written."""
    try:
        text = json.dumps(obj, indent=1, default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(json_ready(obj), indent=1, allow_nan=False)
    (out or sys.stdout).write(text + "\n")


def write_csv(rows: list[dict], out=None) -> None:
    """CSV, one column per key; list-valued cells become JSON text; text made safe (safe_text.csv_cell).
    Numbers are written as they are: a count stays `0`, not `0.0`."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.writer(out or sys.stdout, lineterminator="\n")
    w.writerow([csv_cell(c) for c in cols])
    w.writerows([_csv_value(r.get(c)) for c in cols] for r in rows)


def _csv_value(v):
    t = type(v)
    if t is str:
        return csv_cell(v)
    if t is list or t is dict:
        return json.dumps(v)  # ASCII (escaped), starts with [ or {
    if t is float and v != v:
        return None
    return v
