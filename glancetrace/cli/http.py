"""`glancetrace http`: every HTTP transaction in the capture (decrypted TLS included)."""

from __future__ import annotations

import click

from .options import capture_options, log_options, output_format_option, secrets_warning


@click.command(help="List every HTTP transaction: method, URI, status, times, sizes, frames.")
@capture_options
@log_options
@output_format_option(["table", "json", "csv"], "table")
def command(captures, fmt, show_secrets, quiet, **kw):
    from rich.console import Console

    from ..analysis.evidence import Evidence
    from ..protocols.http.events import HttpTransaction
    from ..report import tables, terminal
    from .passes import joined_logs, log_specs, pipeline_options, run_pass
    secrets_warning(show_secrets, quiet)
    logs = log_specs(kw, quiet)
    res = run_pass(list(captures), pipeline_options(kw, want_mysql=False), quiet, kw.get("dask_address"))
    ev = Evidence(res)  # numbers of the piece that holds them, when read from pieces
    txs = list(res.of_type(HttpTransaction))
    la = joined_logs(res, logs, show_secrets, quiet)  # haproxy's lines stand for the calls TLS hid
    rows = tables.http_rows(txs + la.log_transactions if la else txs, show_secrets)
    rows = [ev.row(r) for r in (la.http_rows(rows) if la else rows)]
    if fmt == "json":
        tables.write_json(rows)
    elif fmt == "csv":
        tables.write_csv(rows)
    else:
        terminal.http_table(rows, Console())
