"""--jobs and --dask: sharded decoding must give exactly the single-process analysis."""

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.parallel import plan_captures, run_on_dask, run_sharded
from glancetrace.pipeline import Options, decode
from tests.support.rig import analysed, capture, keys


@pytest.mark.parametrize("scenario", ["failures", "tls_overcloud"])
def test_jobs_give_the_same_analysis(scenario):
    k = keys(scenario)
    single = analysed(scenario)
    sharded = analyze(run_sharded([capture(scenario)], Options(keylog=[k] if k else [], jobs=3))).to_dict()
    for key in single:
        assert sharded[key] == single[key], key


def test_shards_split_the_connections():
    """Each shard decodes a part; together they account for every packet once."""
    from glancetrace.parallel import shard_pass
    opts = Options()
    parts = [shard_pass([capture("concurrent")], opts, k, 3) for k in range(3)]
    whole = decode(capture("concurrent"))
    assert all(p.tcp_segments < whole.tcp_segments for p in parts)
    assert sum(p.tcp_segments for p in parts) == whole.tcp_segments
    assert sum(len(p.connections) for p in parts) == len(whole.connections)


def test_dask_local_cluster_gives_the_same_analysis():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = run_on_dask([capture("failures")], Options(), cluster.scheduler_address, shards=4)
        two = [capture("failures"), capture("concurrent")]
        both = run_on_dask(two, Options(), cluster.scheduler_address, shards=2)  # a capture per task
    assert analyze(res).to_dict() == analysed("failures")
    assert _event_keys(both) == _event_keys(decode(two))


@pytest.mark.parametrize("cores, one_big, two_big", [(1, 1, 1), (2, 1, 2), (4, 2, 2), (6, 3, 3)])
def test_default_jobs(tmp_path, monkeypatch, cores, one_big, two_big):
    """One process per two cores from four cores on; on two, one per capture (whole captures per
    worker, nothing read twice); one process for small inputs."""
    from glancetrace.cli import passes as options
    monkeypatch.setattr(options.os, "cpu_count", lambda: cores)
    head = open(capture("failures"), "rb").read(24)  # a real pcap header, then sparse space
    small, big, big2 = tmp_path / "small.pcap", tmp_path / "big.pcap", tmp_path / "big2.pcap"
    small.write_bytes(head + b"\0" * 1000)
    for p in (big, big2):
        with open(p, "wb") as f:
            f.write(head)
            f.truncate(300 << 20)
    assert options.default_jobs([str(small)]) == 1
    assert options.default_jobs([str(big)]) == one_big
    assert options.default_jobs([str(big), str(big2)]) == two_big
    assert options.default_jobs([str(big), str(tmp_path / "missing.pcap")]) == 1


def _event_keys(res):
    return [(type(e).__name__, e.capture, e.conn_id, e.first_frame) for e in res.events]


def test_whole_captures_per_worker_give_the_same_pass(tmp_path):
    """Several captures, at least one per worker: each worker decodes whole captures, and the merged
    pass is the single-process one, event for event, in the same order, warnings included (two of
    the captures are cut inside a record, as when tcpdump is killed)."""
    def cut(scenario):
        path = tmp_path / f"{scenario}-cut.pcap"
        data = open(capture(scenario), "rb").read()
        path.write_bytes(data[: len(data) * 2 // 3])
        return str(path)
    paths = [cut("concurrent"), capture("plain_overcloud"), cut("failures")]
    # the largest capture (the last) goes to the first worker: merging in worker order would be wrong
    assert plan_captures(paths, 2) == [[2], [0, 1]]
    single = decode(paths)
    merged = run_sharded(paths, Options(jobs=2))
    assert _event_keys(merged) == _event_keys(single)
    assert [c.path for c in merged.captures] == paths
    assert [(c.stream, c.first_frame) for c in merged.connections] == [(c.stream, c.first_frame)
                                                                        for c in single.connections]
    assert merged.conn_captures == single.conn_captures
    assert (merged.packets, merged.tcp_segments, merged.skipped, merged.warnings) == \
           (single.packets, single.tcp_segments, single.skipped, single.warnings)
    assert [w.split(":")[0] for w in merged.warnings] == [paths[0], paths[2]]  # one per cut capture, in order
    assert analyze(merged).to_dict() == analyze(single).to_dict()


def test_captures_are_planned_by_size(tmp_path):
    sizes = {"a": 50, "b": 30, "c": 25, "d": 5}
    paths = []
    for name, kib in sizes.items():
        p = tmp_path / f"{name}.pcap"
        p.write_bytes(open(capture("failures"), "rb").read(24) + b"\0" * (kib << 10))
        paths.append(str(p))
    assert plan_captures(paths, 2) == [[0, 3], [1, 2]]  # 55 and 55 KiB
    assert plan_captures(paths[:1], 2) is None  # fewer captures than workers: shard by connection
    ng = tmp_path / "x.pcapng"
    ng.write_bytes(bytes.fromhex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000"))
    assert plan_captures(paths + [str(ng)], 2) is None  # its secrets may serve another capture
