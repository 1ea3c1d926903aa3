"""`--help` loads none of the decoding stack (pandas, the pipeline, the analysis): it answers at once.
Its time is measured by hand (README), not here; what makes it fast is checked here."""

import subprocess
import sys

import pytest

HEAVY = ("pandas", "numpy", "sqlglot", "cryptography", "jinja2", "glancetrace.pipeline", "glancetrace.analysis.analyze",
         "glancetrace.protocols.mysql")
PROBE = """
import sys
from glancetrace.cli import cli
try:
    cli.main(args=sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("LOADED:" + " ".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["sql", "--help"], ["http", "--help"],
                                  ["images", "--help"], ["split", "--help"]])
def test_help_imports_nothing_heavy(args):
    p = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    helptext, _, loaded = p.stdout.rpartition("LOADED:")
    assert "Usage:" in helptext
    assert loaded.strip() == "", f"{' '.join(args)} imported {loaded}"
