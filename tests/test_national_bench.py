"""benchmarks/national.py times the stages it names: on a small run every stage is seen once,
in pipeline order, and the bytes it attributes add up to the run folder."""

from __future__ import annotations

from repo_scripts import load_script


def _bench():
    return load_script("benchmarks/national.py", "national_bench")


def test_stages_in_order_and_bytes_add_up(tmp_path):
    bench = _bench()
    from socialrating.simulate import runner as rn
    from socialrating.simulate import shardworld as sh
    from socialrating.simulate import synthetic_world as sw
    from socialrating.sources import link as ln

    def pipeline():
        return (sh.write_citizens, sh.score, sh.ShardWorld.build, sh.ShardWorld.run, rn.MonthlyEngine,
                sw.national_register, ln.link_sources)

    before = pipeline()
    stage_names = ["population", "records", "linkage", "world", "monthly", "spells,", "engine:", "outputs"]
    for shards, block_size in ((1, None), (3, 1024)):  # a sharded run passes the stages once per shard
        out = tmp_path / f"run-{shards}"
        stages, manifest, steps = bench.run(3_000, 0.25, out, threads=2, shards=shards, block_size=block_size)
        names = [r[0] for r in stages.rows]
        assert [n.split(" ")[0] for n in names] == stage_names
        assert manifest["months"] == 3 and len(steps) == 3 * len(manifest["scenarios"]) * shards
        assert all(sec >= 0 for _, sec, _, _ in stages.rows)
        written = sum(r[3] for r in stages.rows)
        assert written == bench.folder_bytes(out) > 0
        # the folder at its largest is at least what it holds at the end
        assert stages.disk_peak - stages.start_bytes >= written
        # the pipeline's functions are restored afterwards
        assert before == pipeline()


def test_folder_bytes_counts_files_and_takes_what_vanishes_as_gone(tmp_path, monkeypatch):
    import os

    bench = _bench()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x.bin").write_bytes(b"1" * 10)
    (tmp_path / "a" / "b" / "y.bin").write_bytes(b"2" * 7)
    assert bench.folder_bytes(tmp_path) == 17 and bench.folder_bytes(tmp_path / "none") == 0
    real = os.stat

    def vanishing(p, *a, **k):  # y.bin deleted between the listing and its stat
        if str(p).endswith("y.bin"):
            raise FileNotFoundError(p)
        return real(p, *a, **k)

    monkeypatch.setattr(bench.os, "stat", vanishing)
    assert bench.folder_bytes(tmp_path) == 10
