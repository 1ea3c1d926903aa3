"""`glancetrace sql`: every MySQL statement with its result, latency and frames."""

from __future__ import annotations

import click
from rich.console import Console

from ..protocols.mysql.events import SqlStatement
from ..analysis.evidence import Evidence
from ..report import tables, terminal
from .options import capture_options, output_format_option, pipeline_options, run_pass, secrets_warning


@click.command(help="List every MySQL statement (or, with --digest, each normalised statement with counts and "
                    "latency percentiles).")
@capture_options
@output_format_option(["table", "json", "csv"], "table")
@click.option("--digest", is_flag=True, help="Group by normalised statement (literals replaced), like pt-query-digest.")
def command(captures, fmt, digest, show_secrets, quiet, **kw):
    secrets_warning(show_secrets, quiet)
    res = run_pass(list(captures), pipeline_options(kw, want_http=False), quiet, kw.get("dask_address"))
    stmts = res.of_type(SqlStatement)
    if digest:
        from ..analysis.sql_digest import digest as digest_table
        df = digest_table(stmts).reset_index()
        if fmt == "json":
            tables.write_json(df.to_dict("records"))
        elif fmt == "csv":
            df.to_csv(click.get_text_stream("stdout"), index=False)
        else:
            terminal.digest_table(df, Console())
        return
    ev = Evidence(res)  # numbers of the piece that holds them, when read from pieces
    rows = [ev.row(r) for r in tables.sql_rows(stmts, show_secrets)]
    if fmt == "json":
        tables.write_json(rows)
    elif fmt == "csv":
        tables.write_csv(rows)
    else:
        terminal.sql_table(rows, Console())
