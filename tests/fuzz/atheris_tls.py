"""Coverage-guided fuzzing of the TLS decoder (atheris), seeded with real rig connections.

    python -m tests.fuzz.atheris_tls -runs=100000 CORPUS_DIR      (or: bash scripts/fuzz.sh tls 600)

Fails on an exception out of feed/gap/close, or on a decoder noting that its own code raised.
"""

import atheris

with atheris.instrument_imports(include=["glancetrace"]):
    from glancetrace.protocols.http import HttpDecoder
    from glancetrace.protocols.tls import TlsDecoder

from tests.fuzz.atheris_common import main  # noqa: E402

SEEDS = [("tls_overcloud", 13292), ("tls_overcloud", 13000)]
KEYS = []  # the rig key log, loaded once


def make():
    if not KEYS:
        from tests.fuzz.seeds import tls_keys
        KEYS.append(tls_keys("tls_overcloud"))
    return TlsDecoder(1, "10.0.0.1:40000", "10.0.0.2:13292", keys=KEYS[0],
                      inner=lambda: HttpDecoder(1, "10.0.0.1:40000", "10.0.0.2:13292", tls=True))


if __name__ == "__main__":
    main(make, SEEDS)
