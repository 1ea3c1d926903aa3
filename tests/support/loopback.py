"""Record real traffic on loopback with tcpdump, for tests.

    with tcpdump(tmp_path / "x.pcap", "tcp port 8080"):
        ... talk to a real server on 127.0.0.1 ...

Needs tcpdump (Debian's package); .ci/run installs it.  Where a tool is
missing the test is skipped, except under CI (GLANCETRACE_REQUIRE_TOOLS=1),
where a missing tool is a failure: a green CI must mean the test ran.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

TOOLS_REQUIRED = os.environ.get("GLANCETRACE_REQUIRE_TOOLS") == "1"


def need(*tools: str) -> None:
    """Skip (or, under CI, fail) when a command-line tool is not installed."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = f"needs {', '.join(missing)} (Debian packages; .ci/run installs them)"
        if TOOLS_REQUIRED:
            pytest.fail(msg)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tcpdump(path, bpf: str, iface: str = "lo", snaplen: int | None = None,
            extra: list[str] | None = None, settle: float = 0.3):
    """Capture `bpf` on `iface` into `path` while the block runs."""
    need("tcpdump")
    # --immediate-mode: a short exchange still in the kernel buffer is lost when tcpdump stops;
    # a larger buffer keeps a loopback burst of hundreds of MB from being dropped
    cmd = ["tcpdump", "-i", iface, "-U", "-n", "--immediate-mode", "-B", "524288", "-w", str(path)]
    if snaplen:
        cmd += ["-s", str(snaplen)]
    cmd += list(extra or []) + [bpf]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait for "listening on ..." so no early packet is missed
    deadline = time.time() + 10
    line = b""
    while time.time() < deadline:
        line = proc.stderr.readline()
        if b"listening on" in line or proc.poll() is not None:
            break
    if proc.poll() is not None:
        raise RuntimeError(f"tcpdump failed: {line.decode(errors='replace')}{proc.stderr.read().decode(errors='replace')}")
    try:
        yield path
    finally:
        time.sleep(settle)  # let the last packets through the ring buffer
        stop_process(proc, signal.SIGINT)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Ask a process we started to stop, and kill it when it does not in time."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tshark_fields(path, display_filter: str, fields: list[str], extra: list[str] | None = None) -> list[list[str]]:
    """Rows of tshark -T fields output (the oracle the decoders are compared with)."""
    need("tshark")
    cmd = ["tshark", "-r", str(path), "-n", "-Y", display_filter, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    cmd += list(extra or [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # tshark 4.2 (Ubuntu 24.04) writes boolean fields as True/False where 4.0 (Debian 12) writes 1/0
    return [[_BOOL.get(v, v) for v in line.split("\t")] for line in out.splitlines() if line.strip()]


_BOOL = {"True": "1", "False": "0"}
