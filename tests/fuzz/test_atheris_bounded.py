"""A bounded coverage-guided run of each atheris harness (HTTP, MySQL, TLS), seeded with real rig
connections; `bash scripts/fuzz.sh http 600` runs one for longer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("decoder", ["http", "mysql", "tls"])
def test_bounded_atheris_run(decoder, tmp_path):
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    proc = subprocess.run(
        [sys.executable, "-m", f"tests.fuzz.atheris_{decoder}", "-runs=3000", "-max_total_time=20",
         "-rss_limit_mb=0",  # the child inherits pytest's peak RSS figure across fork+exec
         f"-seed={1 if os.environ.get('CI') else 0}",  # CI repeats one exploration; elsewhere a new one
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    tail = "\n".join(proc.stderr.splitlines()[-25:])
    assert proc.returncode == 0, tail
    assert "Done" in proc.stderr and any(corpus.iterdir()), tail
    assert not list(tmp_path.glob("crash-*")), tail
