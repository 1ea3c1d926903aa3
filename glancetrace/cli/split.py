"""`glancetrace split`: editcap -c / -i, faster, keeping the input's format; and --flows."""

from __future__ import annotations

import os
from contextlib import contextmanager

import click

from ..capture.splitter import SplitInterrupted, split_editcap, split_flows
from ..errors import UnusableInput
from ..report.safe_text import visible
from .common import progress_wanted

HELP = """Cut capture IN into smaller captures named after OUT.

\b
-c N   N packets per file, exactly like `editcap -c N IN OUT`: files
       OUT-PREFIX_NNNNN_YYYYMMDDHHMMSS.SUFFIX (the first packet's local time,
       inserted before the last dot of OUT).
-i S   S seconds per file, exactly like `editcap -i S IN OUT`: a new file
       when a packet is more than S seconds past the start of the current
       one; an empty file for each interval without packets.
--flows K
       K files OUT-PREFIX_flowNNNNNofKKKKK.SUFFIX in which every TCP
       connection, both directions, lands whole in one file (the file with
       the fewest bytes when it starts, so the files come out of similar
       size).  Other IP traffic (UDP, ICMP) goes
       with its address pair, IP fragments with their datagram's first
       fragment; non-IP frames (ARP, LLDP) go to file 0.  Why: a split by
       count or time cuts connections in half, and a piece that starts in
       the middle of an upload cannot be reassembled or decoded on its own.
       Pieces from --flows can each be analysed alone, or in parallel.

Unlike editcap, every piece keeps the input's format and header byte for
byte (pcap stays pcap with the same byte order, nanosecond magic and
snaplen; pcapng keeps its section header, interfaces and decryption
secrets in every piece).  Records are copied, never rewritten: timestamps
and packet bytes are identical.  A gzip'd IN is read directly and the
pieces are written uncompressed (as editcap does).  A capture cut off
mid-record is split up to the cut, with a warning.
"""


@contextmanager
def _progress(total: int, enabled: bool):
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
    from rich.console import Console
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("splitting", total=total or None)
        yield lambda done: bar.update(task, completed=done)


@click.command(help=HELP)
@click.argument("infile", metavar="IN", type=click.Path(dir_okay=True))
@click.argument("out", metavar="OUT")
@click.option("-c", "count", type=click.IntRange(min=1), help="Packets per file (editcap -c).")
@click.option("-i", "seconds", type=click.IntRange(min=1), help="Seconds per file (editcap -i).")
@click.option("--flows", type=click.IntRange(min=1), help="Number of files, one TCP connection never split.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
def command(infile: str, out: str, count: int | None, seconds: int | None, flows: int | None,
            quiet: bool) -> None:
    chosen = [o for o, v in (("-c", count), ("-i", seconds), ("--flows", flows)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of -c, -i and --flows"
                               + (f" (got {' and '.join(chosen)})" if chosen else ""))
    if os.path.isdir(out):
        raise UnusableInput(f"{out}: is a directory; OUT names the output files (e.g. {out}/piece.pcap)")
    try:
        size = os.path.getsize(infile)
    except OSError:
        size = 0
    # a bar only where a person watches and the input takes a while
    try:
        with _progress(size, progress_wanted(quiet) and size > 64 << 20) as progress:
            if flows:
                res = split_flows(infile, out, flows, progress)
            else:
                res = split_editcap(infile, out, count=count or 0, seconds=seconds or 0, progress=progress)
    except SplitInterrupted as e:
        kept = f"kept the {len(e.kept)} whole piece(s) written before ({e.kept[0]} …)" if e.kept else "nothing kept"
        raise UnusableInput(f"interrupted: removed the piece being written, {kept}") from None
    for w in res.warnings:
        click.echo(visible(f"glancetrace: warning: {infile}: {w}"), err=True)
    if not res.packets:
        for f in res.files:  # empty pieces would only look like a result
            os.remove(f)
        raise UnusableInput(f"{infile}: no packets could be read; nothing written")
    if not quiet:
        click.echo(f"{res.packets} packets into {len(res.files)} files "
                   f"({res.files[0]}{' …' if len(res.files) > 1 else ''})", err=True)
