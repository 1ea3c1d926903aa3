"""What the atheris (coverage-guided, libFuzzer) harnesses share.

A fuzz input is a list of records: one flag byte (bit 0: direction, bit 1: a capture gap of
the record's length instead of bytes), a 2-byte length, then the bytes.  The starting corpus
is real connections from the rig captures in that form, so libFuzzer mutates real traffic.

Run one harness:  python -m tests.fuzz.atheris_http -runs=100000 CORPUS_DIR
(an empty CORPUS_DIR is filled with the seeds first); scripts/fuzz.sh wraps this.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys


def encode(items) -> bytes:
    out = bytearray()
    for d, b in items:
        for i in range(0, len(b), 0xFFFF):
            part = b[i:i + 0xFFFF]
            out += struct.pack("<BH", d & 1, len(part)) + part
    return bytes(out)


def parse(data: bytes):
    items, pos = [], 0
    while pos + 3 <= len(data):
        flag, n = struct.unpack_from("<BH", data, pos)
        pos += 3
        if flag & 2:
            items.append((flag & 1, None, n or 1))
        else:
            chunk = data[pos:pos + n]
            pos += n
            if chunk:
                items.append((flag & 1, chunk))
    return items


def run_decoder(make, data: bytes) -> None:
    """Feed one input; raise on anything a decoder must never do."""
    from tests.fuzz.seeds import feed, internal_errors

    bad = internal_errors(*feed(make, parse(data)))
    if bad:
        raise AssertionError(f"a decoder caught its own exception: {bad[0]}")


def write_seeds(corpus: str, streams) -> None:
    os.makedirs(corpus, exist_ok=True)
    if os.listdir(corpus):
        return
    for items in streams:
        blob = encode(items)[:1 << 16]
        name = hashlib.sha1(blob).hexdigest()
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(blob)


def main(make, seeds) -> None:
    """Fuzz the decoders `make` builds, starting from the rig connections `seeds` ((scenario, port)...)."""
    import atheris

    from tests.fuzz.seeds import streams

    args = list(sys.argv)
    dirs = [a for a in args[1:] if not a.startswith("-")]
    if dirs:
        write_seeds(dirs[0], [c for sc, port in seeds for c in streams(sc, port)])
    if not any(a.startswith("-max_len") for a in args):
        args.append("-max_len=65536")
    atheris.Setup(args, lambda data: run_decoder(make, data))
    atheris.Fuzz()
