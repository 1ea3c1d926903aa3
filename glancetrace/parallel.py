"""Decode one pass in several processes (or on a Dask cluster), sharded by TCP connection.

Every worker walks the whole capture but decodes only the connections whose
endpoint hash (the one `split --flows` uses) falls in its shard, so no piece
is written to disk and no connection is cut.  The parent merges the shards:
stream numbers are renumbered in order of first appearance, as Wireshark's
tcp.stream is, so the merged result equals a single-process pass.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace

from .pipeline import Options, PassResult, Pipeline


def shard_pass(paths: list[str], options: Options, k: int, n: int) -> PassResult:
    """The work of one shard (run in a worker process or on a Dask worker)."""
    res = Pipeline(replace(options, jobs=1), shard=(k, n)).run(paths)
    for conn in res.connections:
        conn.handler = None  # decoders hold no state worth shipping back
    return res


def _shard_star(args):
    return shard_pass(*args)


def run_sharded(paths: list[str], options: Options) -> PassResult:
    n = options.jobs
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(n) as pool:
        parts = pool.map(_shard_star, [(paths, options, k, n) for k in range(n)])
    return merge_shards(parts)


def run_on_dask(paths: list[str], options: Options, address: str, shards: int | None = None) -> PassResult:
    """The same shards as tasks on a Dask distributed cluster (the captures must be readable there)."""
    from dask.distributed import Client

    with Client(address) as client:
        n = shards or max(1, sum(client.nthreads().values()))
        futures = [client.submit(shard_pass, paths, options, k, n, pure=False) for k in range(n)]
        parts = client.gather(futures)
    return merge_shards(parts)


def merge_shards(parts: list[PassResult]) -> PassResult:
    out = PassResult()
    first = parts[0]
    out.captures = first.captures  # every shard read every capture whole
    out.packets = first.packets
    out.link_types = first.link_types
    out.offsets = first.offsets
    out.warnings = list(first.warnings)
    # global stream numbers: order of first appearance within each capture
    conns = []
    for p, part in enumerate(parts):
        for conn, cap in zip(part.connections, part.conn_captures):
            conns.append((cap, conn.first_frame, p, conn.stream, conn))
    conns.sort(key=lambda c: (c[0], c[1], c[2], c[3]))
    renumber: dict[tuple[int, int, int], int] = {}
    next_stream: dict[int, int] = {}
    for cap, _frame, p, local, conn in conns:
        g = next_stream.get(cap, 0)
        next_stream[cap] = g + 1
        renumber[(p, cap, local)] = g
        conn.stream = g
        out.connections.append(conn)
        out.conn_captures.append(cap)
    for p, part in enumerate(parts):
        out.tcp_segments += part.tcp_segments
        out.skipped.update(part.skipped)
        for ev in part.events:
            cap = getattr(ev, "capture", 0)
            if hasattr(ev, "conn_id"):
                ev.conn_id = renumber[(p, cap, ev.conn_id)]
            out.events.append(ev)
    out.events.sort(key=lambda ev: (getattr(ev, "capture", 0), getattr(ev, "conn_id", -1), _first_frame(ev)))
    return out


def _first_frame(ev) -> int:
    for name in ("request_frames", "response_frames", "frames", "handshake_frames"):
        fr = getattr(ev, name, None)
        if fr:
            return fr[0]
    return 0
