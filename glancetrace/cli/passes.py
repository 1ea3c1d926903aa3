"""The one pass the decoding subcommands run: their options turned into pipeline Options, the input
planned, the captures decoded (in this process or several), and what was skipped said on stderr.

Apart from options.py (the click declarations) so that `--help` imports none of the decoding stack."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from dataclasses import replace

import click

from ..capture.link import SKIP_LINKTYPE
from ..capture.plan import InputPlan, plan_input
from ..errors import UnusableInput
from ..parallel import plan_captures, run_sharded
from ..pipeline import Options, PassResult, Pipeline
from ..report.safe_text import visible
from .common import progress_wanted


def pipeline_options(kw: dict, want_http: bool = True, want_mysql: bool = True) -> Options:
    o = Options(want_http=want_http, want_mysql=want_mysql)
    o.http_ports |= set(kw.get("http_port") or ())
    o.tls_ports |= set(kw.get("tls_port") or ())
    o.mysql_ports |= set(kw.get("mysql_port") or ())
    o.keylog = list(kw.get("keylog") or ())
    o.jobs = kw.get("jobs") or 0  # 0: decided by run_pass from the input size
    o.read_as = kw.get("read_as") or "auto"
    for item in kw.get("offsets") or ():
        path, sep, sec = item.rpartition("=")
        try:
            o.offsets[path] = float(sec)
        except ValueError:
            path = ""
        if not sep or not path:
            raise click.BadParameter(f"{item!r}: expected FILE=SECONDS", param_hint="--offset")
    return o


def default_jobs(captures) -> int:
    """Processes for a pass when --jobs is not given.

    One process keeps 1.3-1.6 cores busy (the second hashes image bytes, see
    glancetrace/hashing.py), and sharding one capture by connection makes every
    shard walk all its records, so on two cores that is no faster (benchmarks/README.md:
    2 GiB, 12.2 s against 12.0 s).  Several captures go whole to the workers, nothing
    read twice, which pays on two cores too (two 200 MiB captures: 3.7 s against 4.0 s;
    two 2 GiB captures: 18.1 s against 19.6 s).  With four or more cores, one process per two cores.  Small inputs:
    one process (forking and merging cost about what they save)."""
    cores = os.cpu_count() or 1
    try:
        total = sum(os.path.getsize(c) for c in captures)
    except OSError:
        return 1
    if total <= 256 << 20 or cores < 2:
        return 1
    if cores >= 4:
        return cores // 2
    n = min(cores, len(captures))
    return n if n > 1 and plan_captures(list(captures), n) else 1


def run_pass(captures, options: Options, quiet: bool, dask_address: str | None = None) -> PassResult:
    """Decode the captures once, with a progress line on a terminal; warn about what was skipped."""
    jobs = options.jobs or default_jobs(captures)
    plan = plan_input(list(captures), options.read_as, options.offsets, jobs)
    if not quiet:
        for note in plan.notes:
            click.echo(note, err=True)
    if dask_address and not plan.sequential:  # pieces and pipes are read in this process
        from ..parallel import run_on_dask
        options.offsets = {f.path: plan.offset_of(i).seconds for i, f in enumerate(plan.files)}
        res = run_on_dask(plan.paths, replace(options, read_as="hosts"), dask_address)
        res.plan = plan
        return _checked(res, plan, quiet)
    pipe = Pipeline(options)
    if plan.jobs > 1 and not plan.sequential:
        with phase(f"decoding in {plan.jobs} processes", quiet):
            # the workers read each file as a capture of its own, with the offsets planned here
            offsets = {f.path: plan.offset_of(i).seconds for i, f in enumerate(plan.files)}
            res = run_sharded(plan.paths, replace(options, read_as="hosts", offsets=offsets, jobs=plan.jobs))
            res.plan = plan
    elif progress_wanted(quiet):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[frames]:,} frames"),
                      TimeElapsedColumn(), transient=True, console=_stderr_console()) as prog:
            task = prog.add_task("decoding", frames=0, total=None)
            res = pipe.run(plan, progress=lambda frame, _: prog.update(task, frames=frame))
    else:
        res = pipe.run(plan)
    return _checked(res, plan, quiet)


def _checked(res: PassResult, plan: InputPlan, quiet: bool) -> PassResult:
    names = ", ".join(plan.paths)
    if res.packets == 0:
        raise UnusableInput(f"{names}: no packets could be read")
    if not res.tcp_segments and res.skipped.get(SKIP_LINKTYPE) == res.packets:
        kinds = ", ".join(k for k in res.link_types)
        raise UnusableInput(f"{names}: none of the {res.packets:,} packets could be decoded ({kinds})")
    if not quiet:
        for w in res.warnings:  # a warning can quote the capture
            click.echo(f"warning: {visible(w)}", err=True)
    return res


@contextlib.contextmanager
def phase(name: str, quiet: bool):
    """A spinner with the phase's name on a terminal's stderr; nothing otherwise."""
    if not progress_wanted(quiet):
        yield
        return
    with _stderr_console().status(f"[bold]{name}…"):
        yield


@functools.lru_cache(maxsize=1)
def _stderr_console():
    from rich.console import Console
    return Console(file=sys.stderr)


def joined_logs(res: PassResult, specs: list, show_secrets: bool, quiet: bool):
    """The logs joined to a decoded pass (for `http`, which builds no document); None without logs."""
    if not specs:
        return None
    from ..analysis.analyze import AnalysisOptions
    from ..analysis.logjoin import analyse_with_logs
    with phase("joining the logs", quiet):
        la = analyse_with_logs(res, AnalysisOptions(show_secrets=show_secrets), specs)
    if not quiet:
        click.echo(visible(la.summary()), err=True)
    return la


def logs_summary(doc: dict, quiet: bool) -> None:
    """`report` and `images`: a line on stderr about what the logs added."""
    if quiet or "logs" not in doc:
        return
    from ..analysis.logdoc import summary_line
    click.echo(visible(summary_line(doc["logs"])), err=True)


def log_specs(kw: dict, quiet: bool) -> list:
    """The logs to read, each with its format (named or recognised now: a file that is no log ends the
    run with one line naming it) and its offset when given."""
    from ..analysis.logjoin import LogSpec
    from ..logs.reader import FORMATS, NotALog, detect
    offsets = {}
    for item in kw.get("log_offsets") or ():
        path, sep, sec = item.rpartition("=")
        try:
            offsets[path] = float(sec)
        except ValueError:
            sep = ""
        if not sep or not path:
            raise click.BadParameter(f"{item!r}: expected FILE=SECONDS", param_hint="--log-offset")
    named, default = {}, None
    for item in kw.get("log_formats") or ():
        path, _, fmt = item.rpartition("=")
        if fmt not in FORMATS:
            raise click.BadParameter(f"{item!r}: format one of {', '.join(FORMATS)}", param_hint="--log-format")
        if path:
            named[path] = fmt
        else:
            default = fmt
    specs = [LogSpec(p, named.get(p) or default or detect(p), offsets.get(p)) for p in kw.get("log_files") or ()]
    for d in kw.get("log_dirs") or ():
        skipped = 0
        for root, _dirs, names in os.walk(d):
            for name in sorted(names):
                p = os.path.join(root, name)
                try:
                    specs.append(LogSpec(p, named.get(p) or detect(p), offsets.get(p)))
                except NotALog:
                    skipped += 1
        if skipped and not quiet:
            click.echo(f"{d}: {skipped} file(s) not recognised as logs, skipped", err=True)
    return specs
