"""`glancetrace split` as a person runs it: exit statuses, messages, output files."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", "from glancetrace.cli import main; main()", "split", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


@pytest.mark.parametrize("content", [b"", b"just some text\n" * 5, b"\xd4\xc3\xb2\xa1\x02\x00"])
def test_bad_input_exits_2_with_one_line(tmp_path, content):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    p = run(str(bad), str(tmp_path / "out.pcap"), "-c", "10")
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert "bad.pcap" in p.stderr
    assert not list(tmp_path.glob("out*"))


def test_missing_file_and_option_errors_exit_2(tmp_path):
    p = run(str(tmp_path / "nope.pcap"), str(tmp_path / "o.pcap"), "-c", "3")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    p = run(str(tmp_path / "nope.pcap"), str(tmp_path / "o.pcap"), "-c", "3", "-i", "5")
    assert p.returncode == 2 and "exactly one" in p.stderr
    p = run(str(tmp_path / "nope.pcap"), str(tmp_path / "o.pcap"))
    assert p.returncode == 2


def test_split_and_help(thirdparty, tmp_path):
    src = thirdparty / "zeek/traces/mysql/mysql.pcap"
    p = run(str(src), "piece.pcap", "-c", "10", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 6 and all(n.startswith("piece_0000") and n.endswith(".pcap") for n in names)
    assert "57 packets into 6 files" in p.stderr
    h = run("--help")
    assert "--flows" in h.stdout and "cuts connections in half" in h.stdout.replace("\n", " ").replace("  ", " ")
