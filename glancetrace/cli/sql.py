"""`glancetrace sql`: every MySQL statement with its result, latency and frames."""

from __future__ import annotations

import click

from .options import capture_options, output_format_option, secrets_warning


@click.command(help="List every MySQL statement (or, with --digest, each normalised statement with counts and "
                    "latency percentiles).")
@capture_options
@output_format_option(["table", "json", "csv"], "table")
@click.option("--digest", is_flag=True, help="Group by normalised statement (literals replaced), like pt-query-digest.")
def command(captures, fmt, digest, show_secrets, quiet, **kw):
    from rich.console import Console

    from ..analysis.evidence import Evidence
    from ..analysis.mysql_hops import statements_once
    from ..report import tables, terminal
    from .passes import pipeline_options, run_pass
    secrets_warning(show_secrets, quiet)
    res = run_pass(list(captures), pipeline_options(kw, want_http=False), quiet, kw.get("dask_address"))
    stmts, hops = statements_once(res)  # a conversation relayed by a proxy (database VIP) counts once
    if digest:
        rows = tables.digest_rows(stmts, show_secrets)
    else:
        ev = Evidence(res)  # numbers of the piece that holds them, when read from pieces
        rows = [ev.row(r) for r in tables.sql_rows(stmts, show_secrets, hops)]
    if fmt == "json":
        tables.write_json(rows)
    elif fmt == "csv":
        tables.write_csv(rows)
    else:
        (terminal.digest_table if digest else terminal.sql_table)(rows, Console())
