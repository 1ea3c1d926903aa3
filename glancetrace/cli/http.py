"""`glancetrace http`: every HTTP transaction in the capture (decrypted TLS included)."""

from __future__ import annotations

import click

from .options import capture_options, output_format_option, secrets_warning


@click.command(help="List every HTTP transaction: method, URI, status, times, sizes, frames.")
@capture_options
@output_format_option(["table", "json", "csv"], "table")
def command(captures, fmt, show_secrets, quiet, **kw):
    from rich.console import Console

    from ..analysis.evidence import Evidence
    from ..protocols.http.events import HttpTransaction
    from ..report import tables, terminal
    from .passes import pipeline_options, run_pass
    secrets_warning(show_secrets, quiet)
    res = run_pass(list(captures), pipeline_options(kw, want_mysql=False), quiet, kw.get("dask_address"))
    ev = Evidence(res)  # numbers of the piece that holds them, when read from pieces
    rows = [ev.row(r) for r in tables.http_rows(res.of_type(HttpTransaction), show_secrets)]
    if fmt == "json":
        tables.write_json(rows)
    elif fmt == "csv":
        tables.write_csv(rows)
    else:
        terminal.http_table(rows, Console())
