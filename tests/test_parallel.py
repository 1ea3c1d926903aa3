"""--jobs and --dask: sharded decoding must give exactly the single-process analysis."""

import pytest

from glancetrace.analysis.analyze import analyze
from glancetrace.parallel import run_on_dask
from glancetrace.pipeline import Options, decode
from tests.support.rig import analysed, capture, keys


@pytest.mark.parametrize("scenario", ["failures", "tls_overcloud"])
def test_jobs_give_the_same_analysis(scenario):
    k = keys(scenario)
    single = analysed(scenario)
    sharded = analyze(decode(capture(scenario), keylog=[k] if k else [], jobs=3)).to_dict()
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
    assert analyze(res).to_dict() == analysed("failures")


@pytest.mark.parametrize("cores, jobs_big", [(1, 1), (2, 1), (4, 2), (6, 3)])
def test_default_jobs_is_one_per_two_cores_for_big_inputs(tmp_path, monkeypatch, cores, jobs_big):
    from glancetrace.cli import options
    monkeypatch.setattr(options.os, "cpu_count", lambda: cores)
    small, big = tmp_path / "small.pcap", tmp_path / "big.pcap"
    small.write_bytes(b"\0" * 1000)
    with open(big, "wb") as f:
        f.truncate(300 << 20)  # sparse: only its size matters
    assert options.default_jobs([str(small)]) == 1
    assert options.default_jobs([str(big)]) == jobs_big
    assert options.default_jobs([str(big), str(tmp_path / "missing.pcap")]) == 1
