import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.robustness import corpus


@pytest.fixture(scope="session")
def slices(tmp_path_factory):
    """Real captures to damage: {name: path} (see corpus.SLICES)."""
    tmp = tmp_path_factory.mktemp("slices")
    return {name: corpus.make_slice(name, tmp) for name in corpus.SLICES}


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [x for x in self.err.splitlines() if x.strip()]


def glancetrace(*args, cwd=None) -> Run:
    """The real command line, as a user runs it (no debug tracebacks)."""
    env = {k: v for k, v in os.environ.items() if k != "GLANCETRACE_DEBUG"}
    p = subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True,
                       timeout=300, env=env, cwd=cwd)
    run = Run(p.returncode, p.stdout, p.stderr)
    # whatever the input, never a traceback and never an internal error
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr[-2000:]
    return run
