"""The pass itself (pipeline.py): process-level settings it takes and gives back."""

import sys

import pytest

from glancetrace.pipeline import Options, Pipeline
from glancetrace.protocols.http import digests
from tests.support.rig import capture


def test_a_pass_shortens_the_switch_interval_and_restores_it():
    """The hashing thread needs the GIL back quickly during a pass (protocols/http/digests.py);
    the process's own setting is restored afterwards, even when the pass fails."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        seen = []
        pipe = Pipeline(Options())
        run_group = pipe._run_group
        pipe._run_group = lambda *a: (seen.append(sys.getswitchinterval()), run_group(*a))
        pipe.run([capture("failures")])
        assert seen and all(s <= 0.0005 for s in seen)
        assert sys.getswitchinterval() == pytest.approx(0.004)
        with pytest.raises(RuntimeError):
            with digests.responsive_gil():
                raise RuntimeError
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(old)
