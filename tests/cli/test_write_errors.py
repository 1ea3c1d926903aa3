"""Writing the output: whole files or none, write errors in one line, Ctrl-C during split, and the
digest of a plain make_capture.py file (an unanswered COM_QUIT has no latency: null, not NaN)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pathlib
import subprocess
import sys

import pytest

from glancetrace.capture import splitter as split_mod
from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.cli.output import output_file
from glancetrace.errors import UnusableInput
from tests.support.rig import capture

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
MYSQL_PCAP = FIXTURES / "thirdparty/zeek/traces/mysql/mysql.pcap"
# a plain make_capture.py file (../shared/bench), kept in the repository so a clone runs this test
BENCH_CAPTURE = FIXTURES / "swift/capture.pcap"


def run(*args):
    return subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def one_line_naming(p, path: str, reason: str):
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "internal error" not in p.stderr
    assert path in p.stderr and reason in p.stderr, p.stderr


@contextlib.contextmanager
def read_only(folder: pathlib.Path):
    """A folder no file can be made in, for root too (immutable) or by chmod for others."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("chattr +i is not allowed here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)])
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_read_only_folder_full_disk_and_a_file_for_a_folder_end_in_one_line(tmp_path, fmt):
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        p = run("report", MYSQL_PCAP, "-q", "--format", fmt, "-o", ro / f"r.{fmt}")
        assert list(ro.iterdir()) == []
    one_line_naming(p, str(ro / f"r.{fmt}"), "cannot write")
    one_line_naming(run("report", MYSQL_PCAP, "-q", "--format", fmt, "-o", "/dev/full"), "/dev/full",
                    "No space left on device")
    (tmp_path / "file").write_text("x")
    one_line_naming(run("report", MYSQL_PCAP, "-q", "--format", fmt, "-o", tmp_path / "file" / "r"),
                    str(tmp_path / "file" / "r"), "cannot write")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["file", "ro"]  # no temporary file left behind


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_missing_folders_are_made_and_the_report_is_whole(tmp_path, fmt):
    out = tmp_path / "a" / "b" / f"r.{fmt}"
    p = run("report", MYSQL_PCAP, "-q", "--format", fmt, "-o", out)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert json.loads(text)["summary"]["packets"] > 0 if fmt == "json" else text.rstrip().endswith("</html>")
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # as readable as any new file
    assert [x.name for x in out.parent.iterdir()] == [out.name]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("args", [["http", "--format", "json"], ["sql", "--format", "csv"], ["sql"],
                                  ["images"]])
def test_standard_output_on_a_full_disk(args):
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "glancetrace", *args, str(MYSQL_PCAP), "-q"], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=300)
    assert p.returncode == 2
    assert p.stderr.strip() == "glancetrace: cannot write to standard output: No space left on device"


def test_an_error_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "r.html"
    out.write_text("the previous report")
    with pytest.raises(RuntimeError):
        with output_file(str(out)) as f:
            f.write("half a rep")
            raise RuntimeError("a bug while rendering")
    with pytest.raises(UnusableInput, match=f"cannot write {out}: No space left on device"):
        with output_file(str(out)) as f:
            f.write("half a rep")
            raise OSError(28, "No space left on device")
    assert out.read_text() == "the previous report" and [x.name for x in tmp_path.iterdir()] == ["r.html"]


def _interrupt_on_call(monkeypatch, method: str, n: int):
    """Ctrl-C (KeyboardInterrupt) at the n-th call of _Piece.<method>: while a piece is being written."""
    real = getattr(split_mod._Piece, method)
    calls = []

    def wrapped(self, *a):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(self, *a)
    monkeypatch.setattr(split_mod._Piece, method, wrapped)


@pytest.mark.parametrize("gzipped", [False, True])  # the mmap fast path, and the span walk
def test_ctrl_c_during_split_keeps_only_whole_pieces(tmp_path, monkeypatch, gzipped):
    src = capture("failures")
    if gzipped:
        src = str(tmp_path / "in.pcap.gz")
        subprocess.run(f"gzip -c {capture('failures')} > {src}", shell=True, check=True)
    _interrupt_on_call(monkeypatch, "copy_file" if not gzipped else "close", 4)
    (tmp_path / "out").mkdir()
    with pytest.raises(split_mod.SplitInterrupted) as e:
        split_mod.split_editcap(src, str(tmp_path / "out" / "p.pcap"), count=5000)
    written = sorted(str(x) for x in (tmp_path / "out").iterdir())
    assert written == sorted(e.value.kept) and len(written) == 3  # the fourth, cut off, is gone
    for path in written:
        r = CaptureReader(path)
        assert sum(1 for _ in r.packets()) == 5000 and not r.info.warnings


def test_ctrl_c_during_split_flows_keeps_nothing_and_says_so(tmp_path, monkeypatch, capsys):
    from glancetrace.cli import cli
    from glancetrace.cli.common import run_guarded
    _interrupt_on_call(monkeypatch, "add", 20000)
    monkeypatch.setattr(sys, "argv", ["glancetrace", "split", capture("failures"), str(tmp_path / "p.pcap"),
                                      "--flows", "3"])
    assert run_guarded(cli) == 2
    assert list(tmp_path.iterdir()) == []  # every piece was still open: none is whole
    assert capsys.readouterr().err.strip() == \
        "glancetrace: interrupted: removed the piece being written, nothing kept"


@pytest.fixture(scope="module")
def bench_capture():
    return BENCH_CAPTURE


def test_digest_of_a_plain_bench_capture_as_json_and_csv(bench_capture):
    p = run("sql", bench_capture, "--digest", "--format", "json", "-q")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    quit_row = next(r for r in rows if r["fingerprint"] == "administrator command: quit")
    assert quit_row["mean_latency"] is None and quit_row["count"] >= 1  # no answer to COM_QUIT: no latency
    p = run("sql", bench_capture, "--digest", "--format", "csv", "-q")
    table = list(csv.DictReader(io.StringIO(p.stdout)))
    assert [int(r["count"]) for r in table] == [r["count"] for r in rows]
    assert all(r["errors"].isdigit() and r["rows"].isdigit() for r in table)  # counts, not 0.0
    p = run("sql", bench_capture, "--format", "csv", "-q")
    stmts = list(csv.DictReader(io.StringIO(p.stdout)))
    assert {r["affected_rows"] for r in stmts} - {""} <= {str(n) for n in range(1000)}


def test_digest_table_is_what_a_person_reads(bench_capture):
    p = subprocess.run([sys.executable, "-m", "glancetrace", "sql", str(bench_capture), "--digest", "-q"],
                       capture_output=True, text=True, env=dict(os.environ, COLUMNS="80"), timeout=300)
    lines = p.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].split() == ["statement", "count", "total", "ms", "mean", "ms", "p95", "ms", "errors"]
    rows = json.loads(run("sql", bench_capture, "--digest", "--format", "json", "-q").stdout)
    assert len(lines) < 3 + 4 * len(rows)  # a statement over at most 4 lines
    commit = next(line for line in lines if line.lstrip().startswith("commit "))
    r = next(r for r in rows if r["fingerprint"] == "commit")
    assert commit.split()[1:] == [f"{r['count']:,}", f"{r['total_latency'] * 1000:,.1f}",
                                  f"{r['mean_latency'] * 1000:,.1f}", f"{r['p95_latency'] * 1000:,.1f}",
                                  str(r["errors"])]


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_dash_is_standard_output(tmp_path, fmt):
    """`-o -` writes to stdout (a file named "-" was made before), the whole report and nothing else."""
    p = subprocess.run([sys.executable, "-m", "glancetrace", "report", str(MYSQL_PCAP), "--format", fmt, "-o", "-",
                        "-q"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert list(tmp_path.iterdir()) == []
    if fmt == "json":
        assert json.loads(p.stdout)["summary"]
    else:
        assert p.stdout.lstrip().lower().startswith("<!doctype html") and p.stdout.rstrip().endswith("</html>")
