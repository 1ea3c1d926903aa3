"""Run every command and format on the rig captures and the third-party captures, saving
each output to a folder, so that a run on one branch and a run on another can be diffed:

    python3 scripts/compare_outputs.py /tmp/out-branch
    git archive main | tar -x -C /tmp/gt-main
    python3 scripts/compare_outputs.py /tmp/out-main --code /tmp/gt-main
    diff -r /tmp/out-main /tmp/out-branch

The captures come from this checkout (tests/fixtures/rig and tests/fixtures/thirdparty);
the glancetrace that runs is the one in --code (default: this checkout).  Commands run
in-process (click's test runner), so each output file holds stdout, then the exit
status and stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
RIG = ROOT / "tests" / "fixtures" / "rig"
THIRDPARTY = ROOT / "tests" / "fixtures" / "thirdparty"

RIG_COMMANDS = [
    ("report", "--format", "html"),
    ("report", "--format", "json"),
    ("images", "--format", "table"),
    ("images", "--format", "json"),
    ("http", "--format", "table"),
    ("http", "--format", "json"),
    ("http", "--format", "csv"),
    ("sql", "--format", "table"),
    ("sql", "--format", "json"),
    ("sql", "--format", "csv"),
    ("sql", "--format", "json", "--digest"),
    ("sql", "--format", "table", "--digest"),
]
# the third-party captures are small and many: the JSON of each command says everything
THIRDPARTY_COMMANDS = [c for c in RIG_COMMANDS if c[2] == "json"] + [("report", "--format", "html")]
# split copies records: its pieces are compared by their sha256 (-i on the rig only: a
# third-party capture spanning months would make an empty piece per second)
SPLIT_COMMANDS = [("split", "-c", "100"), ("split", "--flows", "3"), ("split", "-i", "1")]


def captures() -> list[tuple[str, pathlib.Path, list[str]]]:
    """(name, capture, extra arguments) for every capture to run."""
    out = []
    for cap in sorted(RIG.glob("*/capture.pcap")):
        keys = cap.with_suffix(".keys")
        extra = ["--keylog", str(keys)] if keys.exists() else []
        out.append((f"rig-{cap.parent.name}", cap, extra))
    for cap in sorted(THIRDPARTY.rglob("*")):
        if not cap.is_file() or not cap.name.endswith((".pcap", ".pcapng", ".pcap.gz")):
            continue
        keys = cap.parent / (cap.name.split(".")[0] + ".keylog")
        extra = ["--keylog", str(keys)] if keys.exists() else []
        name = str(cap.relative_to(THIRDPARTY)).replace("/", "_")
        out.append((name, cap, extra))
    return out


def run_one(runner, cli, args: list[str], html_path: pathlib.Path | None) -> str:
    sys.argv = ["glancetrace", *args]  # the report quotes its command line
    result = runner.invoke(cli, args, catch_exceptions=True)
    text = result.stdout
    if html_path is not None and html_path.exists():
        text = html_path.read_text(encoding="utf-8")
        html_path.unlink()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += f"\n--- exception: {type(result.exception).__name__}: {result.exception}"
    return f"{text}\n--- exit {result.exit_code}\n--- stderr\n{result.stderr}"


def run_split(runner, cli, cmd: tuple, cap: pathlib.Path, tmp: pathlib.Path) -> str:
    """A split's status and stderr, then each piece's name (without the input's path) and sha256."""
    for old in tmp.iterdir():
        old.unlink()
    result = runner.invoke(cli, [cmd[0], "-q", str(cap), str(tmp / "piece.pcap"), *cmd[1:]],
                           catch_exceptions=True)
    lines = [f"--- exit {result.exit_code}", "--- stderr", result.stderr.replace(str(tmp), "OUT")]
    for f in sorted(tmp.iterdir()):
        lines.append(f"{f.name} {hashlib.sha256(f.read_bytes()).hexdigest()}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--code", type=pathlib.Path, default=ROOT, help="checkout whose glancetrace runs")
    ap.add_argument("--only", default="", help="run only captures whose name contains this")
    a = ap.parse_args()
    sys.path.insert(0, str(a.code.resolve()))
    os.environ["COLUMNS"] = "200"  # terminal tables: the same width in every run
    from click.testing import CliRunner

    from glancetrace.cli import cli
    assert pathlib.Path(sys.modules["glancetrace"].__file__).resolve().is_relative_to(a.code.resolve())
    a.out.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    tmp = pathlib.Path(tempfile.mkdtemp())  # split's pieces, outside the outputs
    for name, cap, extra in captures():
        if a.only not in name:
            continue
        commands = RIG_COMMANDS if name.startswith("rig-") else THIRDPARTY_COMMANDS
        for cmd in commands:
            html = a.out / "tmp.html" if cmd[0] == "report" and cmd[2] == "html" else None
            args = [*cmd, "-q", "--jobs", "1", *extra, str(cap)] + (["-o", str(html)] if html else [])
            text = run_one(runner, cli, args, html).replace(str(a.out), "OUT")  # -o in the quoted command
            (a.out / f"{name}.{'_'.join(c.strip('-') for c in cmd)}.txt").write_text(text, encoding="utf-8")
        for cmd in SPLIT_COMMANDS if name.startswith("rig-") else SPLIT_COMMANDS[:2]:
            text = run_split(runner, cli, cmd, cap, tmp)
            (a.out / f"{name}.{'_'.join(c.strip('-') for c in cmd)}.txt").write_text(text, encoding="utf-8")
        print(name, flush=True)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
