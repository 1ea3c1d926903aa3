"""The pass itself (pipeline.py): process-level settings it takes and gives back."""

import sys

import pytest

from glancetrace.hashing import BackgroundHashing
from glancetrace.pipeline import Options, Pipeline
from tests.support.rig import capture


def test_a_pass_shortens_the_switch_interval_and_restores_it():
    """The hashing thread needs the GIL back quickly during a pass (glancetrace/hashing.py);
    the process's own setting is restored afterwards, even when the pass fails."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        seen = []
        pipe = Pipeline(Options())
        run_one = pipe._run_one
        pipe._run_one = lambda *a: (seen.append(sys.getswitchinterval()), run_one(*a))
        pipe.run([capture("failures")])
        assert seen and all(s <= 0.0005 for s in seen)
        assert sys.getswitchinterval() == pytest.approx(0.004)
        with pytest.raises(RuntimeError):
            with BackgroundHashing():
                raise RuntimeError
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(old)
