"""`glancetrace images`: each image's lifecycle, the calls and SQL behind it, and findings."""

from __future__ import annotations

import sys

import click

from .options import capture_options, log_options, output_format_option, secrets_warning
from .report import analyse, exit_for


@click.command(help="Each image's status transitions, calls, SQL statements and findings.")
@capture_options
@log_options
@output_format_option(["table", "json"], "table")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default=None,
              help="Exit 1 when a finding of this severity or worse was made.")
@click.option("--slow-sql", type=float, default=1.0, show_default=True, help="Seconds above which SQL is slow.")
def command(captures, fmt, fail_on, slow_sql, show_secrets, quiet, **kw):
    from rich.console import Console

    from ..report import tables, terminal
    from .passes import logs_summary
    secrets_warning(show_secrets, quiet)
    doc = analyse(captures, kw, show_secrets, quiet, slow_sql)
    logs_summary(doc, quiet)
    if fmt == "json":
        calls = {c["id"]: c for c in doc["calls"]}
        sql = {s["id"]: s for s in doc["sql"]}
        out = []
        for im in doc["images"]:
            item = dict(im)
            item["calls"] = [{**{k: calls[c][k] for k in ("id", "kind", "method", "uri", "status", "request_time",
                                                           "response_end", "latency", "wireshark_filter",
                                                           "seen_in", "log_lines") if k in calls[c]},
                              "sql": [sql[s] for s in calls[c]["sql"]]} for c in im["calls"]]
            item["findings"] = [f for f in doc["findings"] if f["image_id"] == im["id"]]
            out.append(item)
        tables.write_json(out)
    else:
        con = Console()
        terminal.images_table(doc, con)
        terminal.findings_list(doc, con)
    sys.exit(exit_for(doc, fail_on))
