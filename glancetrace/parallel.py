"""Decode one pass in several processes (or on a Dask cluster).

With at least as many captures as workers (several controllers' captures of
one incident), each worker takes whole captures, balanced by size, and no
record is read twice.  Otherwise the work is sharded by TCP connection: every
worker walks the whole capture but decodes only the connections of its shard
(capture/shard.py: each new connection goes to the shard with the fewest bytes
so far, a choice every worker makes alike), so no piece is written to disk and
no connection is cut; stream numbers are then renumbered in order of first
appearance, as Wireshark's tcp.stream is.  Either way the merged result equals
a single-process pass.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict
from dataclasses import replace

from .capture.pcapfile import CaptureReader
from .errors import UnusableInput
from .pipeline import Options, PassResult, Pipeline


def shard_pass(paths: list[str], options: Options, k: int, n: int) -> PassResult:
    """The work of one shard (run in a worker process or on a Dask worker)."""
    return _shipped(Pipeline(replace(options, jobs=1), shard=(k, n)).run(paths))


def captures_pass(paths: list[str], options: Options, indexes: list[int]) -> PassResult:
    """Whole captures in one worker, numbered as in the whole pass (`indexes`)."""
    return _shipped(Pipeline(replace(options, jobs=1)).run(paths, indexes=indexes))


def _shipped(res: PassResult) -> PassResult:
    for conn in res.connections:
        conn.handler = None  # decoders hold no state worth shipping back
    return res


def plan_captures(paths: list[str], n: int) -> list[list[int]] | None:
    """Capture indexes per worker, largest captures first to the least loaded worker; None when
    there are fewer captures than workers, or a pcapng among them (its decryption secrets
    are read during the walk and may open TLS in another capture, as they do in one pass)."""
    if len(paths) < n:
        return None
    try:
        if any(CaptureReader(p).info.format != "pcap" for p in paths):
            return None
        sizes = [os.path.getsize(p) for p in paths]
    except (UnusableInput, OSError):
        return None  # the pass itself will say what is wrong
    bins: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for i in sorted(range(len(paths)), key=lambda i: -sizes[i]):
        k = load.index(min(load))
        bins[k].append(i)
        load[k] += sizes[i]
    return [sorted(b) for b in bins if b]


def _shard_star(args):
    return shard_pass(*args)


def _captures_star(args):
    return captures_pass(*args)


def run_sharded(paths: list[str], options: Options) -> PassResult:
    """The pass in `options.jobs` processes."""
    n = options.jobs
    ctx = multiprocessing.get_context("fork")
    bins = plan_captures(paths, n)
    with ctx.Pool(len(bins) if bins else n) as pool:
        if bins:
            parts = pool.map(_captures_star, [([paths[i] for i in b], options, b) for b in bins])
            return merge_captures(parts, bins, paths)
        parts = pool.map(_shard_star, [(paths, options, k, n) for k in range(n)])
    return merge_shards(parts)


def run_on_dask(paths: list[str], options: Options, address: str, shards: int | None = None) -> PassResult:
    """The same work as tasks on a Dask distributed cluster (the captures must be readable there)."""
    from dask.distributed import Client

    with Client(address) as client:
        n = shards or max(1, sum(client.nthreads().values()))
        bins = plan_captures(paths, n)
        if bins:
            futures = [client.submit(captures_pass, [paths[i] for i in b], options, b, pure=False) for b in bins]
            return merge_captures(client.gather(futures), bins, paths)
        futures = [client.submit(shard_pass, paths, options, k, n, pure=False) for k in range(n)]
        parts = client.gather(futures)
    return merge_shards(parts)


def merge_captures(parts: list[PassResult], bins: list[list[int]], paths: list[str]) -> PassResult:
    """Workers' results for whole captures, put back in the order one pass reads the captures
    (their events already carry the pass's capture numbers)."""
    out = PassResult()
    where = {i: (p, j) for p, b in enumerate(bins) for j, i in enumerate(b)}
    events: dict[int, list] = defaultdict(list)
    conns: dict[int, list] = defaultdict(list)
    for part in parts:
        for ev in part.events:
            events[ev.capture].append(ev)
        for conn, i in zip(part.connections, part.conn_captures):
            conns[i].append(conn)
        out.packets += part.packets
        out.tcp_segments += part.tcp_segments
        out.skipped.update(part.skipped)
        out.link_types.update(part.link_types)
        out.offsets.update(part.offsets)
    for i, path in enumerate(paths):
        p, j = where[i]
        out.captures.append(parts[p].captures[j])
        out.events.extend(events[i])
        out.connections.extend(conns[i])
        out.conn_captures.extend([i] * len(conns[i]))
        out.warnings.extend(w for w in parts[p].warnings if w.startswith(f"{path}: "))
    return out


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
            stream = renumber[(p, ev.capture, ev.conn_id)]
            out.events.append(ev if stream == ev.conn_id else replace(ev, conn_id=stream))
    out.events.sort(key=lambda ev: (ev.capture, ev.conn_id, ev.first_frame))
    return out
