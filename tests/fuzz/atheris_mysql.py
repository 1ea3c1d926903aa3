"""Coverage-guided fuzzing of the MySQL decoder (atheris), seeded with real rig connections.

    python -m tests.fuzz.atheris_mysql -runs=100000 CORPUS_DIR      (or: bash scripts/fuzz.sh mysql 600)

Fails on an exception out of feed/gap/close, or on a decoder noting that its own code raised.
"""

import atheris

with atheris.instrument_imports(include=["glancetrace"]):
    from glancetrace.protocols.mysql import MysqlDecoder

from tests.fuzz.atheris_common import main  # noqa: E402

SEEDS = [("plain_overcloud", 3306), ("concurrent", 3306), ("failures", 3306)]


def make():
    return MysqlDecoder(1, "10.0.0.1:40000", "10.0.0.2:3306")


if __name__ == "__main__":
    main(make, SEEDS)
