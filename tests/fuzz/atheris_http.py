"""Coverage-guided fuzzing of the HTTP decoder (atheris), seeded with real rig connections.

    python -m tests.fuzz.atheris_http -runs=100000 CORPUS_DIR      (or: bash scripts/fuzz.sh http 600)

Fails on an exception out of feed/gap/close, or on a decoder noting that its own code raised.
"""

import atheris

with atheris.instrument_imports(include=["glancetrace"]):
    from glancetrace.protocols.http import HttpDecoder

from tests.fuzz.atheris_common import main  # noqa: E402

SEEDS = [("plain_overcloud", 9292), ("plain_overcloud", 5000), ("failures", 9292), ("failures", 5000)]


def make():
    return HttpDecoder(1, "10.0.0.1:40000", "10.0.0.2:9292", body_cap=1 << 16)


if __name__ == "__main__":
    main(make, SEEDS)
