"""A pass that also keeps a deep copy of every event at the moment its decoder returned it, so a
test can check that nothing changed an event afterwards (the contract in protocols/base.py)."""

from __future__ import annotations

import copy

from glancetrace.pipeline import Options, PassResult, Pipeline


class _Recorded(list):
    def __init__(self) -> None:
        super().__init__()
        self.at_emission: list = []

    def append(self, ev) -> None:
        self.at_emission.append(copy.deepcopy(ev))
        super().append(ev)

    def extend(self, events) -> None:
        for ev in events:
            self.append(ev)


def decode_recording(paths: list[str], options: Options | None = None) -> tuple[PassResult, list]:
    """(the pass, its events as they were emitted)."""
    pipe = Pipeline(options or Options())
    pipe.result.events = recorded = _Recorded()
    res = pipe.run(paths)
    return res, recorded.at_emission
