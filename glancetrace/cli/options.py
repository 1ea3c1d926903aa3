"""The click options shared by the decoding subcommands (the pass they run is in passes.py)."""

from __future__ import annotations

import click


def capture_options(f):
    """CAPTURE... plus the port, key and output switches every decoding command takes."""
    decorators = [
        click.argument("captures", nargs=-1, required=True, type=click.Path(dir_okay=False)),
        click.option("--keylog", multiple=True, type=click.Path(exists=True, dir_okay=False),
                     help="TLS key log (SSLKEYLOGFILE format); repeatable."),
        click.option("--http-port", multiple=True, type=int, help="Also decode HTTP on this server port."),
        click.option("--tls-port", multiple=True, type=int, help="Also decode TLS on this server port."),
        click.option("--mysql-port", multiple=True, type=int, help="Also decode MySQL on this server port."),
        click.option("--offset", "offsets", multiple=True, metavar="FILE=SECONDS",
                     help="Clock offset to add to one capture's times (several captures of one incident); "
                          "estimated from shared packets when not given."),
        click.option("--read-as", type=click.Choice(["auto", "pieces", "hosts"]), default="auto", show_default=True,
                     help="Several files: pieces of one capture (editcap -c, tcpdump -C; read as one stream in "
                          "time order) or captures of several hosts (clocks aligned); auto tells them apart."),
        click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
                     help="Worker processes, each decoding a share of the TCP connections "
                          "[default: for inputs over 256 MiB, half the cores on machines with 4 or more, one per capture "
                          "(up to the cores) with several pcap captures; else 1]."),
        click.option("--dask", "dask_address", metavar="ADDRESS", default=None,
                     help="Run the per-shard decoding on a Dask distributed cluster (scheduler address); "
                          "the captures must be readable at the same path on its workers."),
        click.option("--show-secrets", is_flag=True,
                     help="Do not redact tokens and passwords (the output then holds secrets)."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary on stderr."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def secrets_warning(show_secrets: bool, quiet: bool) -> None:
    if show_secrets and not quiet:
        click.echo("warning: --show-secrets: the output holds tokens and passwords; do not attach it to a ticket",
                   err=True)


def output_format_option(choices: list[str], default: str):
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help="Output format.")


# -- logs beside the capture (issue 18) -----------------------------------------------------------

def log_options(f):
    """--log FILE, --logs DIR, --log-offset FILE=SECONDS, --log-format [FILE=]FORMAT."""
    decorators = [
        click.option("--log", "log_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                     help="A log file to join to the capture (haproxy, glance-api/keystone oslo.log, uWSGI, "
                          "Apache access, a client's --debug output, MariaDB error log; plain or .gz); repeatable."),
        click.option("--logs", "log_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
                     help="A directory of logs (a sosreport): every file recognised as a log is read."),
        click.option("--log-offset", "log_offsets", multiple=True, metavar="FILE=SECONDS",
                     help="Seconds to add to a log's times; estimated from shared requests when not given."),
        click.option("--log-format", "log_formats", multiple=True, metavar="[FILE=]FORMAT",
                     help="Name a log's format instead of recognising it (haproxy, oslo, uwsgi, apache, client, "
                          "mariadb); without FILE= it applies to every --log."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


