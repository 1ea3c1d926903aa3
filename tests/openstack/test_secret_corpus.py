"""No secret reaches any output: every command and format, files and stderr, on a capture of real clients
sending each kind of secret with a unique marker (secret_corpus.py).  With --show-secrets the markers are there,
so each check can fail."""

from __future__ import annotations

import pathlib
import re

import click
import pytest
from click.testing import CliRunner

from glancetrace.cli import SUBCOMMANDS, cli

from tests.robustness.corpus import Pcap, tcp_of

from .secret_corpus import MARKERS, Corpus, record



def _every_output_path() -> list[tuple[str, list[str]]]:
    """(command, arguments) for every decoding command and every --format it has (and --digest), read from the
    CLI itself, so that a command or format added later is checked too; a command that can write a file does
    so once to the file, and once to stdout where that is allowed."""
    ctx = click.Context(cli)
    paths = []
    for name in SUBCOMMANDS:
        params = {p.name: p for p in cli.get_command(ctx, name).params}
        if "fmt" not in params:  # split: copies records and prints counts, no capture text
            continue
        for fmt in params["fmt"].type.choices:
            for digest in ((False, True) if "digest" in params else (False,)):
                args = [*(["--digest"] if digest else []), "--format", fmt]
                if "output" in params:
                    paths.append((name, [*args, "-o", f"out.{fmt}"]))
                paths.append((name, args))  # stdout, or the command's default file
    return paths


PATHS = _every_output_path()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    pytest.importorskip("waitress")
    pytest.importorskip("jsonschema")
    return record(tmp_path_factory.mktemp("secrets"))


def _run(corpus, tmp_path, command, args, show: bool) -> str:
    """Everything the command wrote: stdout, stderr (progress summary, findings) and every file it made."""
    argv = [command, corpus.path, "--http-port", str(corpus.http_port), "--mysql-port", str(corpus.mysql_port),
            *args, *(["--show-secrets"] if show else [])]
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as here:  # where default outputs (reports/…) land
        # wide, so that no table folds a marker over two lines
        res = runner.invoke(cli, argv, env={"COLUMNS": "4000"}, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        written = "".join(p.read_text(errors="replace") for p in pathlib.Path(here).rglob("*") if p.is_file())
    return res.stdout + res.stderr + written


def _present(text: str) -> set[str]:
    return {name for name, marker in MARKERS.items() if marker in text}


# the terminal digest shows normalised statements only (every literal a ?) and no sample: not even
# --show-secrets puts a marker there, which is checked instead
NORMALISED_ONLY = {("sql", ("--digest", "--format", "table"))}


@pytest.mark.parametrize("command,args", PATHS, ids=[" ".join([c, *a]) for c, a in PATHS])
def test_no_marker_in_any_output(corpus, tmp_path, command, args):
    shown = _present(_run(corpus, tmp_path, command, args, show=True))
    if (command, tuple(args)) in NORMALISED_ONLY:
        assert shown == set()
        return
    assert shown, "this output shows nothing of the capture: the check below would prove nothing"
    assert _present(_run(corpus, tmp_path, command, args, show=False)) == set()


def test_every_marker_is_in_the_capture_and_the_whole_analysis(corpus, tmp_path):
    """The corpus is what it says: the report's JSON, unredacted, holds every marker."""
    assert _present(_run(corpus, tmp_path, "report", ["--format", "json"], show=True)) == set(MARKERS)


PARTIAL = re.compile(r"Qz[A-Z]{3}")  # the start of any marker


def _cut_inside_markers(src: str, dst) -> str:
    """The corpus as a short snaplen would have left it: each packet carrying a marker ends inside it, so
    statements, bodies and headers end in the middle of a literal or a value."""
    cap = Pcap.read(src)
    for rec in cap.records:
        t = tcp_of(rec[1])
        at = bytes(rec[1]).find(b"Qz", t[4]) if t else -1
        if at >= 0:
            del rec[1][at + 5:]
    return cap.write(dst)


# where a cut statement or body still shows (a request cut inside its headers is not decoded at all)
CUT_PATHS = [("report", ["--format", "json"]), ("sql", ["--format", "table"]), ("sql", ["--format", "json"]),
             ("sql", ["--format", "csv"]), ("sql", ["--digest", "--format", "json"]),
             ("sql", ["--digest", "--format", "csv"])]


@pytest.mark.parametrize("command,args", CUT_PATHS, ids=[" ".join([c, *a]) for c, a in CUT_PATHS])
def test_secrets_cut_by_the_snaplen_stay_hidden(corpus, tmp_path, command, args):
    cut = Corpus(_cut_inside_markers(corpus.path, tmp_path / "cut.pcap"), corpus.http_port, corpus.mysql_port)
    assert PARTIAL.search(_run(cut, tmp_path, command, args, show=True))
    assert not PARTIAL.search(_run(cut, tmp_path, command, args, show=False))


def test_every_command_and_format_is_checked():
    """The list the checks run over is the CLI's own: each decoding command, each of its formats."""
    assert {c for c, _ in PATHS} == set(SUBCOMMANDS) - {"split"}
    assert ("report", ["--format", "html", "-o", "out.html"]) in PATHS
    assert ("sql", ["--digest", "--format", "csv"]) in PATHS
