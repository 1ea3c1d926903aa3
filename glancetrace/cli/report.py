"""`glancetrace report`: the self-contained HTML timeline (or the whole analysis as JSON, or Markdown for a ticket)."""

from __future__ import annotations

import os
import shlex
import sys

import click

from .options import capture_options, log_options, output_format_option, secrets_warning
from .output import output_file

# The decoding and analysis stack is imported inside the commands: `--help` loads none of it.


def analyse(captures, kw, show_secrets, quiet, slow_sql=1.0) -> dict:
    from ..analysis.analyze import AnalysisOptions
    from ..analysis.logjoin import analyse_with_logs
    from .passes import log_specs, phase, pipeline_options, run_pass
    logs = log_specs(kw, quiet)
    res = run_pass(list(captures), pipeline_options(kw), quiet, kw.get("dask_address"))
    command = "glancetrace " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with phase("correlating SQL with calls, building lifecycles", quiet):
        an = analyse_with_logs(res, AnalysisOptions(slow_sql=slow_sql, show_secrets=show_secrets, command=command), logs)
        return an.to_dict()


def exit_for(doc: dict, fail_on: str | None) -> int:
    from ..analysis.findings import SEVERITY_ORDER
    if not fail_on:
        return 0
    limit = SEVERITY_ORDER[fail_on]
    return 1 if any(SEVERITY_ORDER.get(f["severity"], 9) <= limit for f in doc["findings"]) else 0


def default_output(captures) -> str:
    base = os.path.basename(captures[0])
    for ext in (".gz", ".pcapng", ".pcap", ".cap"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    return os.path.join("reports", base + ".html")


@click.command(help="Write the HTML timeline of every image's lifecycle (findings first, with Wireshark "
                    "filters as evidence). Several captures of one incident go on one timeline.")
@capture_options
@log_options
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Where to write; - is stdout (default: reports/<capture>.html, or stdout for --format json and md).")
@output_format_option(["html", "json", "md"], "html")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default=None,
              help="Exit 1 when a finding of this severity or worse was made.")
@click.option("--slow-sql", type=float, default=1.0, show_default=True, help="Seconds above which SQL is slow.")
def command(captures, output, fmt, fail_on, slow_sql, show_secrets, quiet, **kw):
    from ..report import tables, terminal
    from ..report.markdown import write_markdown
    from .passes import logs_summary, phase
    secrets_warning(show_secrets, quiet)
    doc = analyse(captures, kw, show_secrets, quiet, slow_sql)
    logs_summary(doc, quiet)
    written = None
    if fmt in ("json", "md"):
        write = tables.write_json if fmt == "json" else write_markdown
        if output:
            with output_file(output) as f:
                write(doc, f)
            written = output
        else:
            write(doc, sys.stdout)
    else:
        from ..report.html import render_html
        written = output or default_output(captures)
        with phase("writing the report", quiet):
            html = render_html(doc)
        with output_file(written) as f:
            f.write(html)
    if not quiet:
        from rich.console import Console
        con = Console(stderr=True)
        if fmt == "html" or output:
            terminal.findings_list(doc, con, limit=8)
        con.print(terminal.summary_paragraph(doc, written))
    sys.exit(exit_for(doc, fail_on))
